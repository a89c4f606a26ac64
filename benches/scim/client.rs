//! The load generator's HTTP/1.1 client.

use std::sync::Mutex;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A small HTTP/1.1 keep-alive client: the load generator shares the machine with the server,
/// so it does no more per request than write the request and read back the status and body.
pub struct Client {
    addr: String,
    /// The SCIM base path (`/scim/v2/{connection}`).
    prefix: String,
    host: String,
    token: String,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        let rest = base.strip_prefix("http://").expect("http base URL");
        let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        Client {
            addr: host.to_owned(),
            prefix: format!("/{prefix}"),
            host: host.to_owned(),
            token: token.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Body) {
        let body = body.map(|b| b.to_string());
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n",
            self.prefix, self.host, self.token
        );
        if let Some(b) = &body {
            req.push_str(&format!(
                "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = &body {
            req.push_str(b);
        }
        let head = method == reqwest::Method::HEAD;
        let idle = self.idle.lock().unwrap().pop();
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(c) => c,
            None => self.connect().await,
        };
        let (status, body, keep) = match conn.exchange(req.as_bytes(), head).await {
            Ok(answer) => answer,
            // The server closed the idle connection (keep-alive timeout) before reading the
            // request: send it again on a new one.
            Err(_) if reused => {
                conn = self.connect().await;
                conn.exchange(req.as_bytes(), head)
                    .await
                    .expect("HTTP exchange")
            }
            Err(e) => panic!("HTTP exchange: {e}"),
        };
        conn.buf.clear();
        if keep {
            self.idle.lock().unwrap().push(conn);
        }
        (status, Body(body))
    }
}

impl Client {
    async fn connect(&self) -> Conn {
        Conn {
            stream: TcpStream::connect(&self.addr).await.expect("connect"),
            buf: Vec::with_capacity(16 * 1024),
        }
    }
}

impl Conn {
    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Sends one request; returns the status, the body, and whether the connection stays open.
    async fn exchange(&mut self, req: &[u8], head: bool) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.stream.write_all(req).await?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp.parse(&self.buf).map_err(|e| bad(&e.to_string()))?;
            let httparse::Status::Complete(head_len) = parsed else {
                self.fill().await?;
                continue;
            };
            let status = resp.code.ok_or_else(|| bad("no status"))?;
            let (mut length, mut chunked, mut close) = (None, false, false);
            for h in resp.headers.iter() {
                let value = std::str::from_utf8(h.value)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match h.name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.contains("chunked"),
                    "connection" => close = value.contains("close"),
                    _ => {}
                }
            }
            self.buf.drain(..head_len);
            let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
            let body = if no_body {
                Vec::new()
            } else if chunked {
                self.read_chunked().await?
            } else if let Some(n) = length {
                while self.buf.len() < n {
                    self.fill().await?;
                }
                self.buf.drain(..n).collect()
            } else {
                // Delimited by the end of the connection.
                while self.fill().await.is_ok() {}
                close = true;
                std::mem::take(&mut self.buf)
            };
            return Ok((status, body, !close));
        }
    }

    async fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size"))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

/// A response body, parsed only by the scenarios that look into it, so the load generator
/// spends as little of the shared CPU as it can.
pub struct Body(pub Vec<u8>);

impl Body {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.0).unwrap_or(Value::Null)
    }

    /// A list response's `totalResults`, without building the rest.
    pub fn total(&self) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct Total {
            #[serde(rename = "totalResults")]
            total: i64,
        }
        serde_json::from_slice::<Total>(&self.0)
            .ok()
            .map(|t| t.total)
    }

    /// How many resources a list response holds, without building them.
    pub fn resources(&self) -> Option<usize> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(rename = "Resources", default)]
            resources: Vec<serde::de::IgnoredAny>,
        }
        serde_json::from_slice::<Page>(&self.0)
            .ok()
            .map(|p| p.resources.len())
    }
}
