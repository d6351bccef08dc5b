//! Job sets and drains shared by the store tests.
#![allow(dead_code)]

use bytes::Bytes;
use gearlet::core::*;

/// Submits to `f` one background job of every kind a store must give back: an explicit unique,
/// none, `-`, a high priority, and a unique that is not UTF-8 with a binary workload.
pub fn submit_every_kind(c: &Client, f: &str) {
    let jobs = [
        SubmitRequest::new(f, "one").unique("u1"),
        SubmitRequest::new(f, "two"),
        SubmitRequest::new(f, "three").unique("-"),
        SubmitRequest::new(f, "urgent")
            .unique("hi")
            .priority(Priority::High),
        SubmitRequest::new(f, Bytes::from_static(b"\x00\xff\x01")).unique(&b"\xfe\xfd"[..]),
    ];
    for j in jobs {
        c.submit_job(j.background()).unwrap();
    }
}

/// What `submit_every_kind` submitted, in serving order: (unique, workload).
pub fn every_kind_served() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        (&b"hi"[..], &b"urgent"[..]),
        (b"u1", b"one"),
        (b"", b"two"),
        (b"-", b"three"),
        (b"\xfe\xfd", b"\x00\xff\x01"),
    ]
    .iter()
    .map(|(u, w)| (u.to_vec(), w.to_vec()))
    .collect()
}

/// Grabs and completes every job of `f` it can get at once: (unique, workload) in the order
/// served.
pub fn drain(s: &Server, f: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let w = s.worker().unwrap();
    w.register(f).unwrap();
    let mut got = Vec::new();
    while let Some(j) = w.try_grab().unwrap() {
        got.push((j.unique().to_vec(), j.workload().to_vec()));
        j.complete("ok").unwrap();
    }
    got
}
