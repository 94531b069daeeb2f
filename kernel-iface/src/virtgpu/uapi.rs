//! The virtio-gpu DRM uapi (`virtgpu_drm.h`) as far as Venus uses it: struct layouts and ioctl numbers,
//! restated in `shared/notes/venus-protocol.md` §1.1. All structs are `repr(C)` with explicit padding, so
//! x86_64 and aarch64 agree byte for byte.

use rustix::ioctl::{opcode, Opcode};

pub const PARAM_3D_FEATURES: u64 = 1;
pub const PARAM_CAPSET_QUERY_FIX: u64 = 2;
pub const PARAM_RESOURCE_BLOB: u64 = 3;
pub const PARAM_HOST_VISIBLE: u64 = 4;
pub const PARAM_CROSS_DEVICE: u64 = 5;
pub const PARAM_CONTEXT_INIT: u64 = 6;
pub const PARAM_SUPPORTED_CAPSET_IDS: u64 = 7;
/// Linux 7.2+: the alignment every blob must have (the host's page size, as the VMM advertises it
/// with `VIRTIO_GPU_F_BLOB_ALIGNMENT`); older kernels answer EINVAL, a device without it ENOENT.
pub const PARAM_BLOB_ALIGNMENT: u64 = 9;

pub const CONTEXT_PARAM_CAPSET_ID: u64 = 1;
pub const CONTEXT_PARAM_NUM_RINGS: u64 = 2;
pub const CONTEXT_PARAM_POLL_RINGS_MASK: u64 = 3;

pub const EXECBUF_FENCE_FD_OUT: u32 = 0x2;
pub const EXECBUF_RING_IDX: u32 = 0x4;

/// Rings per context: ring masks (POLL_RINGS_MASK) are 64 bits wide, and Mesa asks for exactly 64.
pub const MAX_RINGS: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GetParam {
    pub param: u64,
    /// A user pointer to a u64 that receives the value (the kernel writes its low 32 bits only).
    pub value: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GetCaps {
    pub cap_set_id: u32,
    pub cap_set_ver: u32,
    pub addr: u64,
    pub size: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextSetParam {
    pub param: u64,
    pub value: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextInit {
    pub num_params: u32,
    pub pad: u32,
    /// A user pointer to `num_params` [`ContextSetParam`]s.
    pub ctx_set_params: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceCreateBlob {
    pub blob_mem: u32,
    pub blob_flags: u32,
    pub bo_handle: u32,
    pub res_handle: u32,
    pub size: u64,
    pub pad: u32,
    pub cmd_size: u32,
    pub cmd: u64,
    pub blob_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Map {
    /// Out: the fake offset to pass to mmap on the DRM fd.
    pub offset: u64,
    pub handle: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Execbuffer {
    pub flags: u32,
    pub size: u32,
    pub command: u64,
    pub bo_handles: u64,
    pub num_bo_handles: u32,
    pub fence_fd: i32,
    pub ring_idx: u32,
    pub syncobj_stride: u32,
    pub num_in_syncobjs: u32,
    pub num_out_syncobjs: u32,
    pub in_syncobjs: u64,
    pub out_syncobjs: u64,
}

const DRM_IOCTL_BASE: u8 = b'd';
const DRM_COMMAND_BASE: u8 = 0x40;

const fn virtgpu_iowr<T>(nr: u8) -> Opcode {
    opcode::read_write::<T>(DRM_IOCTL_BASE, DRM_COMMAND_BASE + nr)
}

pub const IOCTL_MAP: Opcode = virtgpu_iowr::<Map>(0x01);
pub const IOCTL_EXECBUFFER: Opcode = virtgpu_iowr::<Execbuffer>(0x02);
pub const IOCTL_GETPARAM: Opcode = virtgpu_iowr::<GetParam>(0x03);
pub const IOCTL_GET_CAPS: Opcode = virtgpu_iowr::<GetCaps>(0x09);
pub const IOCTL_RESOURCE_CREATE_BLOB: Opcode = virtgpu_iowr::<ResourceCreateBlob>(0x0a);
pub const IOCTL_CONTEXT_INIT: Opcode = virtgpu_iowr::<ContextInit>(0x0b);

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn ioctl_numbers_match_the_uapi_table() {
        // venus-protocol.md §1.1: 0xC0000000 | size << 16 | 'd' << 8 | (0x40 + nr).
        let table: [(Opcode, u64); 6] = [
            (IOCTL_MAP, 0xC010_6441),
            (IOCTL_EXECBUFFER, 0xC040_6442),
            (IOCTL_GETPARAM, 0xC010_6443),
            (IOCTL_GET_CAPS, 0xC018_6449),
            (IOCTL_RESOURCE_CREATE_BLOB, 0xC030_644A),
            (IOCTL_CONTEXT_INIT, 0xC010_644B),
        ];
        for (opcode, expected) in table {
            assert_eq!(opcode as u64, expected, "{opcode:#x}");
        }
    }

    #[test]
    fn struct_sizes_match_the_uapi() {
        assert_eq!(size_of::<GetParam>(), 16);
        assert_eq!(size_of::<GetCaps>(), 24);
        assert_eq!(size_of::<ContextSetParam>(), 16);
        assert_eq!(size_of::<ContextInit>(), 16);
        assert_eq!(size_of::<ResourceCreateBlob>(), 48);
        assert_eq!(size_of::<Map>(), 16);
        assert_eq!(size_of::<Execbuffer>(), 64);
    }

    #[test]
    fn field_offsets_match_the_uapi() {
        assert_eq!(offset_of!(GetParam, value), 8);

        assert_eq!(offset_of!(GetCaps, cap_set_ver), 4);
        assert_eq!(offset_of!(GetCaps, addr), 8);
        assert_eq!(offset_of!(GetCaps, size), 16);

        assert_eq!(offset_of!(ContextInit, ctx_set_params), 8);
        assert_eq!(offset_of!(ContextSetParam, value), 8);

        assert_eq!(offset_of!(ResourceCreateBlob, blob_flags), 4);
        assert_eq!(offset_of!(ResourceCreateBlob, bo_handle), 8);
        assert_eq!(offset_of!(ResourceCreateBlob, res_handle), 12);
        assert_eq!(offset_of!(ResourceCreateBlob, size), 16);
        assert_eq!(offset_of!(ResourceCreateBlob, pad), 24);
        assert_eq!(offset_of!(ResourceCreateBlob, cmd_size), 28);
        assert_eq!(offset_of!(ResourceCreateBlob, cmd), 32);
        assert_eq!(offset_of!(ResourceCreateBlob, blob_id), 40);

        assert_eq!(offset_of!(Map, handle), 8);

        assert_eq!(offset_of!(Execbuffer, size), 4);
        assert_eq!(offset_of!(Execbuffer, command), 8);
        assert_eq!(offset_of!(Execbuffer, bo_handles), 16);
        assert_eq!(offset_of!(Execbuffer, num_bo_handles), 24);
        assert_eq!(offset_of!(Execbuffer, fence_fd), 28);
        assert_eq!(offset_of!(Execbuffer, ring_idx), 32);
        assert_eq!(offset_of!(Execbuffer, syncobj_stride), 36);
        assert_eq!(offset_of!(Execbuffer, num_in_syncobjs), 40);
        assert_eq!(offset_of!(Execbuffer, num_out_syncobjs), 44);
        assert_eq!(offset_of!(Execbuffer, in_syncobjs), 48);
        assert_eq!(offset_of!(Execbuffer, out_syncobjs), 56);
    }

    #[test]
    fn param_and_flag_values_match_the_uapi() {
        assert_eq!(
            [
                PARAM_3D_FEATURES,
                PARAM_CAPSET_QUERY_FIX,
                PARAM_RESOURCE_BLOB,
                PARAM_HOST_VISIBLE,
                PARAM_CROSS_DEVICE,
                PARAM_CONTEXT_INIT,
                PARAM_SUPPORTED_CAPSET_IDS,
                PARAM_BLOB_ALIGNMENT
            ],
            [1, 2, 3, 4, 5, 6, 7, 9]
        );
        assert_eq!(
            [
                CONTEXT_PARAM_CAPSET_ID,
                CONTEXT_PARAM_NUM_RINGS,
                CONTEXT_PARAM_POLL_RINGS_MASK
            ],
            [1, 2, 3]
        );
        assert_eq!((EXECBUF_FENCE_FD_OUT, EXECBUF_RING_IDX), (2, 4));
    }
}
