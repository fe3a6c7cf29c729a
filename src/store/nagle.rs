//! Turns Nagle's algorithm off on the pool's Postgres sockets.
//!
//! sqlx 0.9.0 opens its TCP connections without `TCP_NODELAY` (earlier
//! releases set it; the fix is merged upstream but not released). A
//! statement larger than the socket's send window then goes out in two
//! writes, and the second waits for the server's delayed ACK: 40 ms added
//! to any large statement (the webhook group commit and the mirror's bulk
//! upserts hit it every time). The pool calls this after each new
//! connection; Unix-socket connections are not TCP and are left alone.
//! Linux only (it walks `/proc/self/fd`); elsewhere it does nothing.

use std::os::fd::{BorrowedFd, RawFd};

/// Sets `TCP_NODELAY` on every TCP socket of this process whose peer port
/// is `port` and that does not have it yet. Returns how many it changed.
pub fn disable_on_peer_port(port: u16) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut changed = 0;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: `fd` was an open socket when listed and is only borrowed
        // for three socket-option calls; nothing here closes it. Should
        // another thread close it and the number be reused meanwhile, the
        // calls fail on a non-socket or tune another TCP socket's latency,
        // both harmless.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&borrowed);
        let to_port = sock
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port);
        if to_port && sock.tcp_nodelay().is_ok_and(|on| !on) && sock.set_tcp_nodelay(true).is_ok() {
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nodelay_on_sockets_to_the_port_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let a = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let b = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!a.nodelay().unwrap());
        assert!(disable_on_peer_port(port) >= 1);
        assert!(a.nodelay().unwrap());
        assert!(
            !b.nodelay().unwrap(),
            "a socket to another port is left alone"
        );
        assert_eq!(
            disable_on_peer_port(port),
            0,
            "already set: nothing to change"
        );
    }
}
