//! The vtest socket: whole messages out, exact replies in, fds by SCM_RIGHTS, all bounded by deadlines.
//!
//! Unlike Mesa's client, a server that dies or stops answering becomes an error naming the step. After
//! any such error the stream position is unknown, so the connection refuses all further use.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{
    connect, recv, recvmsg, send, socket_with, AddressFamily, RecvAncillaryBuffer,
    RecvAncillaryMessage, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

use crate::deadline::{wait_for_events, Deadline};
use crate::error::{kind_of_errno, ErrorKind, Step, TransportError};
use crate::transport::TransportKind;

pub(crate) struct Connection {
    fd: OwnedFd,
    reply_timeout: Duration,
    /// The last request the server did not answer: the server drops a client whose request fails, so
    /// when the socket closes, that request is the likely cause.
    unanswered: Option<Step>,
    /// Set after an I/O failure; the connection is unusable from then on.
    failed_at: Option<Step>,
}

fn error(step: Step, kind: ErrorKind, detail: impl Into<String>) -> TransportError {
    TransportError::new(TransportKind::Vtest, step, kind, detail)
}

impl Connection {
    pub(crate) fn connect(
        path: &Path,
        reply_timeout: Duration,
    ) -> Result<Connection, TransportError> {
        let step = Step::Connect;
        let address = SocketAddrUnix::new(path).map_err(|errno| {
            error(
                step,
                ErrorKind::InvalidArgument,
                format!("{} is not a usable socket path: {errno}", path.display()),
            )
        })?;
        let fd = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|errno| error(step, kind_of_errno(errno), format!("socket(): {errno}")))?;

        let deadline = Deadline::after(reply_timeout);
        loop {
            match connect(&fd, &address) {
                Ok(()) => break,
                Err(Errno::INTR) => continue,
                // A full listen backlog (a stalled server): wait for room until the deadline.
                Err(Errno::AGAIN) | Err(Errno::INPROGRESS) => {
                    if deadline.remaining().is_zero() {
                        return Err(error(
                            step,
                            ErrorKind::TimedOut,
                            format!(
                                "the server at {} accepted no connection within {reply_timeout:?}",
                                path.display()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(Errno::ISCONN) => break,
                Err(errno) => {
                    let hint = match errno {
                        Errno::NOENT => " (no socket there: start virgl_test_server, or point VTEST_SOCKET_NAME at its socket)",
                        Errno::CONNREFUSED => " (a socket file without a server behind it)",
                        _ => "",
                    };
                    return Err(error(
                        step,
                        kind_of_errno(errno),
                        format!("connect({}): {errno}{hint}", path.display()),
                    ));
                }
            }
        }
        Ok(Connection {
            fd,
            reply_timeout,
            unanswered: None,
            failed_at: None,
        })
    }

    fn usable(&self, step: Step) -> Result<(), TransportError> {
        match self.failed_at {
            Some(failed) => Err(error(
                step,
                ErrorKind::Disconnected,
                format!("the vtest connection is unusable after an earlier failure in step \"{failed}\""),
            )),
            None => Ok(()),
        }
    }

    fn fail(&mut self, err: TransportError) -> TransportError {
        self.failed_at.get_or_insert(err.step);
        err
    }

    fn closed_detail(&self) -> String {
        match self.unanswered {
            Some(request) => format!(
                "the vtest server closed the connection (it drops a client whose request fails; if that is \
                 why, the culprit is the last request it did not answer: \"{request}\")"
            ),
            None => "the vtest server closed the connection".to_string(),
        }
    }

    /// Sends a request that the server answers; read the answer with the `read_*` methods.
    pub(crate) fn request(
        &mut self,
        step: Step,
        message: &[u8],
    ) -> Result<Deadline, TransportError> {
        let deadline = Deadline::after(self.reply_timeout);
        self.send_all(step, message, &deadline)?;
        Ok(deadline)
    }

    /// Sends a request that gets no answer. A failure shows only as a closed connection later.
    pub(crate) fn post(&mut self, step: Step, message: &[u8]) -> Result<(), TransportError> {
        let deadline = Deadline::after(self.reply_timeout);
        self.send_all(step, message, &deadline)?;
        self.unanswered = Some(step);
        Ok(())
    }

    fn send_all(
        &mut self,
        step: Step,
        mut bytes: &[u8],
        deadline: &Deadline,
    ) -> Result<(), TransportError> {
        self.usable(step)?;
        while !bytes.is_empty() {
            match send(&self.fd, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
                Ok(sent) => bytes = &bytes[sent..],
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    self.wait(step, PollFlags::OUT, deadline, "to accept our request")?
                }
                Err(errno @ (Errno::PIPE | Errno::CONNRESET)) => {
                    let detail = format!("{} (send: {errno})", self.closed_detail());
                    return Err(self.fail(error(step, ErrorKind::Disconnected, detail)));
                }
                Err(errno) => {
                    return Err(self.fail(error(
                        step,
                        kind_of_errno(errno),
                        format!("send: {errno}"),
                    )))
                }
            }
        }
        Ok(())
    }

    fn wait(
        &mut self,
        step: Step,
        events: PollFlags,
        deadline: &Deadline,
        what: &str,
    ) -> Result<(), TransportError> {
        match wait_for_events(self.fd.as_fd(), events, deadline) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                let detail = format!(
                    "the vtest server did not answer within {:?}: waited for it {what}; it is stalled or overloaded",
                    self.reply_timeout
                );
                Err(self.fail(error(step, ErrorKind::TimedOut, detail)))
            }
            Err(errno) => {
                Err(self.fail(error(step, kind_of_errno(errno), format!("poll: {errno}"))))
            }
        }
    }

    /// Reads exactly `buf.len()` bytes; never more, so an fd message that follows stays in the socket.
    fn read_exact(
        &mut self,
        step: Step,
        buf: &mut [u8],
        deadline: &Deadline,
    ) -> Result<(), TransportError> {
        self.usable(step)?;
        let mut filled = 0;
        while filled < buf.len() {
            match recv(&self.fd, &mut buf[filled..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => {
                    let detail = self.closed_detail();
                    return Err(self.fail(error(step, ErrorKind::Disconnected, detail)));
                }
                Ok((received, _)) => filled += received,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => self.wait(step, PollFlags::IN, deadline, "to reply")?,
                Err(errno @ Errno::CONNRESET) => {
                    let detail = format!("{} (recv: {errno})", self.closed_detail());
                    return Err(self.fail(error(step, ErrorKind::Disconnected, detail)));
                }
                Err(errno) => {
                    return Err(self.fail(error(
                        step,
                        kind_of_errno(errno),
                        format!("recv: {errno}"),
                    )))
                }
            }
        }
        Ok(())
    }

    pub(crate) fn read_words(
        &mut self,
        step: Step,
        count: usize,
        deadline: &Deadline,
    ) -> Result<Vec<u32>, TransportError> {
        let mut bytes = vec![0u8; count * 4];
        self.read_exact(step, &mut bytes, deadline)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect())
    }

    pub(crate) fn read_bytes(
        &mut self,
        step: Step,
        len: usize,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, TransportError> {
        let mut bytes = vec![0u8; len];
        self.read_exact(step, &mut bytes, deadline)?;
        Ok(bytes)
    }

    /// Reads a reply header for `command` and returns its payload length in dwords.
    pub(crate) fn read_reply_header(
        &mut self,
        step: Step,
        command: u32,
        deadline: &Deadline,
    ) -> Result<usize, TransportError> {
        let header = self.read_words(step, 2, deadline)?;
        // Every request sent before this reply has now been processed without the server giving up.
        self.unanswered = None;
        let (len, id) = (header[0] as usize, header[1]);
        if id != command {
            let detail =
                format!("expected a reply to command {command}, got command {id} (length {len})");
            return Err(self.fail(error(step, ErrorKind::Protocol, detail)));
        }
        if len * 4 > crate::vtest::protocol::MAX_REPLY_BYTES {
            let detail = format!(
                "reply to command {command} claims {len} dwords, far more than any reply holds"
            );
            return Err(self.fail(error(step, ErrorKind::Protocol, detail)));
        }
        Ok(len)
    }

    /// Reads a reply of exactly `len` dwords to `command`.
    pub(crate) fn read_reply(
        &mut self,
        step: Step,
        command: u32,
        len: usize,
        deadline: &Deadline,
    ) -> Result<Vec<u32>, TransportError> {
        let got = self.read_reply_header(step, command, deadline)?;
        if got != len {
            let detail = format!("reply to command {command} has {got} dwords, expected {len}");
            return Err(self.fail(error(step, ErrorKind::Protocol, detail)));
        }
        self.read_words(step, len, deadline)
    }

    /// Fails if the server has closed the connection, without waiting. Between requests the server
    /// sends nothing, so any readable byte or hang-up means it is gone (or confused).
    pub(crate) fn check_open(&mut self, step: Step) -> Result<(), TransportError> {
        self.usable(step)?;
        let events = PollFlags::IN | PollFlags::RDHUP;
        let ready = match wait_for_events(self.fd.as_fd(), events, &Deadline::after(Duration::ZERO))
        {
            Ok(ready) => ready,
            Err(errno) => {
                return Err(self.fail(error(step, kind_of_errno(errno), format!("poll: {errno}"))))
            }
        };
        let Some(ready) = ready else {
            return Ok(());
        };
        let mut byte = [0u8; 1];
        let peeked = recv(&self.fd, &mut byte, RecvFlags::DONTWAIT | RecvFlags::PEEK);
        let hung_up = ready.intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR);
        match peeked {
            Ok((0, _)) => {}
            Err(Errno::AGAIN) | Err(Errno::INTR) if !hung_up => return Ok(()),
            Ok(_) if !hung_up => {
                let detail = "the vtest server sent bytes nobody asked for";
                return Err(self.fail(error(step, ErrorKind::Protocol, detail)));
            }
            _ => {}
        }
        let detail = self.closed_detail();
        Err(self.fail(error(step, ErrorKind::Disconnected, detail)))
    }

    /// Receives the fd the server sends after some replies: one dummy byte carrying SCM_RIGHTS.
    pub(crate) fn receive_fd(
        &mut self,
        step: Step,
        deadline: &Deadline,
    ) -> Result<OwnedFd, TransportError> {
        self.usable(step)?;
        let mut dummy = [0u8; 1];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        loop {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut dummy)];
            match recvmsg(
                &self.fd,
                &mut iov,
                &mut control,
                RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(msg) if msg.bytes == 0 => {
                    let detail = self.closed_detail();
                    return Err(self.fail(error(step, ErrorKind::Disconnected, detail)));
                }
                Ok(_) => {
                    let mut received = None;
                    for message in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(fds) = message {
                            for fd in fds {
                                received.get_or_insert(fd);
                            }
                        }
                    }
                    return received.ok_or_else(|| {
                        self.fail(error(
                            step,
                            ErrorKind::Protocol,
                            "the server's fd message carried no file descriptor",
                        ))
                    });
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    self.wait(step, PollFlags::IN, deadline, "to pass a file descriptor")?
                }
                Err(errno) => {
                    return Err(self.fail(error(
                        step,
                        kind_of_errno(errno),
                        format!("recvmsg: {errno}"),
                    )))
                }
            }
        }
    }
}
