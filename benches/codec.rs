//! Encoding and decoding a typical delta with each codec: 25 avatars that moved, two
//! objects that changed, one person who arrived (what a client in a busy part of a space
//! gets each tick). The postcard and JSON numbers are each other's baseline.
//!
//! Run: `cargo bench --bench codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plaza_net::{Codec, Props, ServerMsg, WireAvatar, WireObject, WireTransform, WireUser};
use uuid::Uuid;

fn typical_delta() -> ServerMsg {
    let t = |i: usize| WireTransform {
        pos: [i as f32 * 1.37, 0.0, -(i as f32) * 0.91],
        rot: [0.0, 0.382_683_4, 0.0, 0.923_879_5],
        scale: [1.0; 3],
    };
    ServerMsg::Delta {
        tick: 123_456,
        objects: (0..2)
            .map(|i| WireObject {
                id: Uuid::from_u128(1_000 + i as u128),
                model: "models/crate.glb".into(),
                transform: t(i),
                props: Props::from_json(r##"{"color":"#aa3300","label":"crate"}"##)
                    .expect("an object"),
                owner: Uuid::from_u128(7),
                version: 42,
            })
            .collect(),
        removed: vec![],
        avatars: (0..25)
            .map(|i| WireAvatar {
                user: Uuid::from_u128(2_000 + i as u128),
                transform: t(i),
            })
            .collect(),
        joined: vec![WireUser {
            user: Uuid::from_u128(3_000),
            name: "newcomer".into(),
            transform: t(3),
        }],
        left: vec![],
        appeared: vec![],
        vanished: vec![],
        hidden: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let msg = typical_delta();
    let mut group = c.benchmark_group("codec_typical_delta");
    for (name, codec) in [("postcard", Codec::Postcard), ("json", Codec::Json)] {
        let bytes = codec.encode_server(&msg).expect("encodes");
        eprintln!("{name}: {} bytes", bytes.len());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| codec.encode_server(std::hint::black_box(&msg)))
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| codec.decode_server(std::hint::black_box(&bytes)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
