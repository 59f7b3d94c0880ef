//! `TCP_NODELAY` on the connections to MySQL/MariaDB, which sqlx 0.9.0 does not set.
//!
//! sqlx 0.8 turned Nagle's algorithm off on its sockets; 0.9.0 lost that (sqlx issue
//! #4335; fixed upstream by #4336, in no release yet). Without it a client that
//! writes twice before it reads (a statement closed on its way out of the statement
//! cache, then the next one) holds the second write until the server acknowledges the
//! first, and the server delays that acknowledgement up to 40 ms. Measured with the
//! bench on MariaDB: pushes at a paced 1,000 a second waited 0.4–2 s (the journal,
//! one transaction at a time, fell behind), and with delayed acknowledgements off on
//! the loopback route they took 3.6 ms. sqlx gives no hook on the socket, so each new
//! pool connection ([`super::connect_with`]) sets the option on this process's sockets
//! connected to the database server: only sqlx opens those, and setting it on one
//! already set changes nothing.

use std::net::SocketAddr;

/// Sets `TCP_NODELAY` on every TCP socket of this process whose peer is one of
/// `server`; returns how many it set it on.
pub fn on_sockets_to(server: &[SocketAddr]) -> usize {
    let mut set = 0;
    each_socket_to(server, |socket| {
        if socket.set_tcp_nodelay(true).is_ok() {
            set += 1;
        }
    });
    set
}

/// Whether the socket of this process connected to one of `server` from local port
/// `port` has `TCP_NODELAY` set; `None` if there is no such socket. The tests ask
/// about one connection by the port the server sees it come from: other tests of the
/// same process open connections of their own meanwhile.
#[cfg(test)]
pub fn is_set_from(server: &[SocketAddr], port: u16) -> Option<bool> {
    let mut found = None;
    each_socket_to(server, |socket| {
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        if local.is_some_and(|a| a.port() == port) {
            found = Some(socket.tcp_nodelay().unwrap_or(false));
        }
    });
    found
}

/// Calls `f` with each of this process's sockets whose peer is one of `server`.
#[cfg(target_os = "linux")]
fn each_socket_to(server: &[SocketAddr], mut f: impl FnMut(socket2::SockRef<'_>)) {
    use std::os::fd::BorrowedFd;
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for fd in fds.flatten() {
        let is_socket = std::fs::read_link(fd.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = fd.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open a moment ago and is only borrowed for a call
        // or two. Were it closed and reused meanwhile, a call on it fails (not a
        // socket), or it is a socket to another peer and `f` is not called with it.
        let socket = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&socket);
        let to_server = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| server.contains(&peer));
        if to_server {
            f(socket);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn each_socket_to(_server: &[SocketAddr], _f: impl FnMut(socket2::SockRef<'_>)) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_sockets_to_the_server_are_changed() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to_server = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let to_other = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!to_server.nodelay().unwrap(), "off by default");
        let addrs = [server.local_addr().unwrap()];
        let port = to_server.local_addr().unwrap().port();
        assert_eq!(is_set_from(&addrs, port), Some(false));
        let other_port = to_other.local_addr().unwrap().port();
        assert_eq!(is_set_from(&addrs, other_port), None, "not to the server");
        assert_eq!(on_sockets_to(&addrs), 1);
        assert!(to_server.nodelay().unwrap());
        assert!(
            !to_other.nodelay().unwrap(),
            "another peer's socket is left alone"
        );
        assert_eq!(is_set_from(&addrs, port), Some(true));
    }
}
