//! hope-crypto streaming throughput (one core), to compare with
//! `openssl speed -evp aes-256-gcm -bytes 65536` on the same machine.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::io::{Read, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hope_crypto::container::{Backend, Decryptor, EncryptOptions, Encryptor, HEADER_LEN, Header};
use hope_crypto::{DataKey, KeyId};

const LEN: usize = 16 << 20;

fn streaming(c: &mut Criterion) {
    let key = DataKey::generate().unwrap();
    let id = KeyId([1; 16]);
    let plain: Vec<u8> = (0..LEN).map(|i| (i * 7) as u8).collect();
    let mut sink = Vec::with_capacity(LEN + LEN / 1000 + 4096);
    let mut g = c.benchmark_group("container");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(20);
    for (name, backend) in [("ring", Backend::Ring), ("rustcrypto", Backend::RustCrypto)] {
        let options = EncryptOptions::new().backend(backend);
        g.bench_function(format!("encrypt_16MiB_{name}"), |b| {
            b.iter(|| {
                sink.clear();
                let mut enc = Encryptor::new(&mut sink, &key, id, 1, b"bench", &options).unwrap();
                enc.write_all(black_box(&plain)).unwrap();
                enc.finish().unwrap();
            })
        });
        let sealed = sink.clone();
        let mut out = vec![0u8; LEN];
        g.bench_function(format!("decrypt_16MiB_{name}"), |b| {
            b.iter(|| {
                let header = Header::read_from(&sealed[..]).unwrap();
                let body = black_box(&sealed[HEADER_LEN..]);
                let mut dec =
                    Decryptor::with_backend(body, header, &key, Some(b"bench"), backend).unwrap();
                dec.read_exact(&mut out).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, streaming);
criterion_main!(benches);
