//! Micro benchmark of SigV4 verification on an AWS CLI-shaped ECS request (run with
//! `cargo bench -p berth-sigv4`). Wall-clock timing needs `std::time::Instant`, which the
//! workspace bans elsewhere in favour of tokio's clock.
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use berth_sigv4::{sign, verify, Credentials, Identity, Request, SigningParams, Verifier};
use http::HeaderMap;
use time::macros::datetime;

const ITERATIONS: u32 = 200_000;

/// CPU time this thread has run, in nanoseconds (Linux schedstat), so that other load on the
/// machine does not inflate the figures the way wall-clock time is inflated.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    let body =
        br#"{"cluster": "default", "taskDefinition": "web:3", "count": 1, "launchType": "EC2"}"#;
    let mut headers = HeaderMap::new();
    headers.insert("host", "127.0.0.1:8080".parse().unwrap());
    headers.insert(
        "x-amz-target",
        "AmazonEC2ContainerServiceV20141113.RunTask"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    };
    let params = SigningParams {
        credentials: &credentials,
        region: "us-east-1",
        service: "ecs",
        time: datetime!(2015-08-30 12:36:00 UTC),
        content_sha256_header: false,
    };
    let unsigned_headers = headers.clone();
    let unsigned = Request {
        method: "POST",
        path: "/",
        query: None,
        headers: &unsigned_headers,
        authority: None,
        payload: berth_sigv4::Payload::Bytes(body),
    };
    let signed = sign(&unsigned, &params).unwrap();
    // The user agent and retry headers the CLI adds after signing ride along unsigned.
    headers.insert(
        "user-agent",
        "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux"
            .parse()
            .unwrap(),
    );
    headers.insert("amz-sdk-request", "attempt=1".parse().unwrap());
    headers.insert("content-length", body.len().to_string().parse().unwrap());
    signed.apply(&mut headers);
    let req = Request {
        headers: &headers,
        ..unsigned
    };

    let mut keys = HashMap::new();
    keys.insert(
        "AKIDEXAMPLE".to_owned(),
        Identity {
            secret_access_key: credentials.secret_access_key.clone(),
            account_id: "123456789012".into(),
            session_token: None,
        },
    );
    let now = datetime!(2015-08-30 12:40:00 UTC);
    let verifier = Verifier::new();
    verifier.verify(&req, &keys, now, Some("ecs")).unwrap();

    let per_request = |label: &str, run: &dyn Fn()| {
        for _ in 0..ITERATIONS / 10 {
            run();
        }
        let start = Instant::now();
        let cpu_start = thread_cpu_ns();
        for _ in 0..ITERATIONS {
            run();
        }
        let wall = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);
        let cpu = thread_cpu_ns()
            .zip(cpu_start)
            .map(|(end, start)| (end - start) as f64 / f64::from(ITERATIONS));
        match cpu {
            Some(cpu) => println!(
                "{label:<42} {cpu:>6.0} ns CPU/request ({:>7.0}/s per core), {wall:>6.0} ns wall",
                1e9 / cpu
            ),
            None => println!("{label:<42} {wall:>6.0} ns wall/request"),
        }
    };

    per_request("Verifier::verify (signing key cached)", &|| {
        black_box(verifier.verify(black_box(&req), &keys, now, Some("ecs"))).unwrap();
    });
    per_request("verify (signing key derived every time)", &|| {
        black_box(verify(black_box(&req), &keys, now, Some("ecs"))).unwrap();
    });
    per_request("sign", &|| {
        black_box(sign(black_box(&unsigned), &params)).unwrap();
    });

    let threads = 2;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..ITERATIONS {
                    black_box(verifier.verify(black_box(&req), &keys, now, Some("ecs"))).unwrap();
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "Verifier::verify on {threads} threads, one shared Verifier: {:.0} requests/s in total",
        f64::from(ITERATIONS) * f64::from(threads) / elapsed
    );
}
