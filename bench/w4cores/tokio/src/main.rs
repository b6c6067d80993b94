// W4 on every core: the peers' Tokio echo server (a task per connection)
// on Tokio's multi-thread runtime (one worker per core, work stealing).
// Usage: w4cores-tokio PORT LIFETIME_S. Prints "READY <pid>".
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let mut a = std::env::args().skip(1);
    let port: u16 = a.next().map(|s| s.parse().unwrap()).unwrap_or(9101);
    let lifetime: u64 = a.next().map(|s| s.parse().unwrap()).unwrap_or(60);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("READY {}", std::process::id());
        let accept_loop = async {
            loop {
                let (mut sock, _) = match listener.accept().await {
                    Ok(x) => x,
                    Err(_) => continue,
                };
                let _ = sock.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sock.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        };
        tokio::select! {
            _ = accept_loop => {}
            _ = tokio::time::sleep(Duration::from_secs(lifetime)) => {}
        }
    });
}
