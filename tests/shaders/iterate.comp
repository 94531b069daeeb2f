// The compute readback check's shader: one step of x -> 3x + 1 (mod 2^32) over every element.
// SPIR-V (checked in beside it) made with the reference stack's glslang (README.md: all shaders at once):
//   glslangValidator -V --target-env vulkan1.1 iterate.comp -o iterate.comp.spv
#version 450
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) buffer Values { uint values[]; };
layout(push_constant) uniform Push { uint count; } push;

void main() {
    uint index = gl_GlobalInvocationID.x;
    if (index < push.count) {
        values[index] = values[index] * 3u + 1u;
    }
}
