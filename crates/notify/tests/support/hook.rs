//! A loopback webhook for notify's tests: a real HTTP server on 127.0.0.1
//! that records each request's path and body and answers as told.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token in the webhook URL: must appear in no byte the binary writes.
pub const TOKEN: &str = "T0KEN-b6f1c2d9e8a7";

#[derive(Clone, Copy)]
pub enum Mode {
    Ok,
    Fail500,
    Never,
}

/// A loopback HTTP server that records each request's path and body.
pub struct Hook {
    pub url: String,
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
}

pub fn hook(mode: Mode) -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").expect("test setup");
    let port = listener.local_addr().expect("test setup").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen2.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("test setup"));
                let mut line = String::new();
                reader.read_line(&mut line).expect("test setup");
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).expect("test setup");
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().expect("test setup");
                    }
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).expect("test setup");
                seen.lock()
                    .expect("test setup")
                    .push((path, String::from_utf8(body).expect("test setup")));
                let reply = match mode {
                    Mode::Ok => {
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    }
                    Mode::Fail500 => {
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\nConnection: close\r\n\r\nservice broken"
                    }
                    Mode::Never => {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                };
                let _ = stream.write_all(reply.as_bytes());
            });
        }
    });
    Hook {
        url: format!("http://127.0.0.1:{port}/services/T1/B2/{TOKEN}"),
        seen,
    }
}
