//! The HTTP ceiling: an actix-web server that answers every request with one fixed body (a real
//! Roster response captured in the same run), with the same number of workers as Roster. What
//! the load generator gets from it is as fast as any server could answer it on this machine.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use actix_web::{web, App, HttpResponse, HttpServer};

/// The environment variable that turns the benchmark binary into the ceiling server; it names
/// the file holding the body to answer with.
pub const BODY_FILE: &str = "ROSTER_BENCH_CEILING_BODY";

/// Runs the ceiling server (in the child process) until killed; prints its address first.
pub fn serve(body_file: &str) {
    let body = web::Bytes::from(std::fs::read(body_file).expect("ceiling body"));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let body = body.clone();
            App::new().default_service(web::to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/scim+json")
                        .body(body)
                }
            }))
        })
        .bind("127.0.0.1:0")
        .expect("ceiling bind");
        let addr = server.addrs()[0];
        println!("ceiling listening on {addr}");
        std::io::stdout().flush().expect("stdout");
        server.run().await.expect("ceiling server");
    });
}

/// The ceiling server as a child process.
pub struct Ceiling {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Ceiling {
    pub fn start(body: &[u8]) -> Ceiling {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("body.json");
        std::fs::write(&file, body).expect("ceiling body");
        let mut child = Command::new(std::env::current_exe().expect("bench binary"))
            .env(BODY_FILE, &file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ceiling server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("ceiling stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("ceiling address");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ceiling {
            child,
            base: format!("http://{addr}/ceiling"),
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
