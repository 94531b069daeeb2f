//! Messages with file descriptors (SCM_RIGHTS) on Unix sockets.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Sends `data` and `fds` as one message. On a stream socket the data must go out in one
/// piece too (callers send small messages), so a short send is an error.
pub fn send_with_fds(
    socket: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other(
            "the control buffer cannot hold the descriptors",
        ));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            socket,
            &[IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => continue,
            other => break other?,
        }
    };
    if sent != data.len() {
        return Err(io::Error::other(format!(
            "sent {sent} of {} bytes of a message carrying descriptors",
            data.len()
        )));
    }
    Ok(())
}

/// One received message.
pub struct Received {
    /// Bytes received; 0 means the peer closed the connection.
    pub len: usize,
    pub fds: Vec<OwnedFd>,
    /// The message (or its descriptors) did not fit the buffers and was cut.
    pub truncated: bool,
}

/// Receives one message (one datagram on SOCK_SEQPACKET) with up to `max_fds` descriptors,
/// which arrive close-on-exec. Extra descriptors are closed and reported as truncation.
pub fn recv_with_fds(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<Received> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_fds.max(1)))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let message = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for ancillary in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = ancillary {
            fds.extend(received);
        }
    }
    let mut truncated = message
        .flags
        .intersects(ReturnFlags::TRUNC | ReturnFlags::CTRUNC);
    if fds.len() > max_fds {
        fds.clear();
        truncated = true;
    }
    Ok(Received {
        len: message.bytes.min(buf.len()),
        fds,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn descriptors_travel_with_the_message() {
        let (a, b) = seqpacket_pair();
        let memfd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&memfd, 123).unwrap();
        send_with_fds(a.as_fd(), b"hello", &[memfd.as_fd()]).unwrap();
        let mut buf = [0u8; 16];
        let received = recv_with_fds(b.as_fd(), &mut buf, 2).unwrap();
        assert_eq!(&buf[..received.len], b"hello");
        assert!(!received.truncated);
        assert_eq!(received.fds.len(), 1);
        assert_eq!(rustix::fs::fstat(&received.fds[0]).unwrap().st_size, 123);
    }

    #[test]
    fn oversized_messages_and_surplus_descriptors_are_reported() {
        let (a, b) = seqpacket_pair();
        send_with_fds(a.as_fd(), &[7u8; 32], &[]).unwrap();
        let mut small = [0u8; 8];
        assert!(recv_with_fds(b.as_fd(), &mut small, 0).unwrap().truncated);

        let memfd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        send_with_fds(a.as_fd(), b"x", &[memfd.as_fd(), memfd.as_fd()]).unwrap();
        let received = recv_with_fds(b.as_fd(), &mut small, 1).unwrap();
        assert!(received.truncated);
        assert!(received.fds.is_empty());
    }

    #[test]
    fn a_closed_peer_reads_as_zero_bytes() {
        let (a, b) = seqpacket_pair();
        drop(a);
        let mut buf = [0u8; 4];
        assert_eq!(recv_with_fds(b.as_fd(), &mut buf, 1).unwrap().len, 0);
    }
}
