//! Running the real `vouch` binary from tests: a clean environment, free ports, servers.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `vouch` in `dir` with no `VOUCH_*` variables inherited from the test's environment.
pub fn vouch_cmd(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vouch"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("VOUCH_") {
            c.env_remove(k);
        }
    }
    c.env("VOUCH_LOG_LEVEL", "warn");
    c
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `vouch serve` child process, killed if the test ends without stopping it.
pub struct Server {
    pub child: Child,
    pub bind: String,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let bind = format!("127.0.0.1:{}", free_port());
        let child = vouch_cmd(dir)
            .args(["serve", "--bind", &bind])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server { child, bind };
        s.wait_ready();
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bind)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(&self.bind) {
                let _ =
                    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = String::new();
                let _ = std::io::Read::read_to_string(&mut s, &mut buf);
                if buf.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "server on {} never became ready",
                self.bind
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }

    /// SIGKILL: no cleanup at all.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::forget(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
