//! Encoding and decoding a typical delta with each codec: 25 avatars that moved, two
//! objects that changed, one person who arrived (what a client in a busy part of a space
//! gets each tick), in protocol 2 (compact motion) and protocol 1. Each is the others'
//! baseline.
//!
//! Run: `cargo bench --bench codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plaza_net::{
    AvatarMove, Codec, Moves, Pose, Props, ServerMsg, WireObject, WireTransform, WireUser,
};
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
                index: i as u32,
                model: "models/crate.glb".into(),
                transform: t(i),
                props: Props::from_json(r##"{"color":"#aa3300","label":"crate"}"##)
                    .expect("an object"),
                owner: Uuid::from_u128(7),
                version: 42,
            })
            .collect(),
        removed: vec![],
        avatars: Moves::Plain(
            (0..25)
                .map(|i| AvatarMove {
                    index: i as u32,
                    user: Uuid::from_u128(2_000 + i as u128),
                    transform: Pose::of(&t(i)),
                })
                .collect(),
        ),
        joined: vec![WireUser {
            user: Uuid::from_u128(3_000),
            index: 25,
            name: "newcomer".into(),
            transform: Pose::of(&t(3)),
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
    for (name, version, codec) in [
        ("v2/postcard", 2, Codec::Postcard),
        ("v2/json", 2, Codec::Json),
        ("v1/postcard", 1, Codec::Postcard),
        ("v1/json", 1, Codec::Json),
    ] {
        let bytes = codec.encode_server_in(version, &msg).expect("encodes");
        eprintln!("{name}: {} bytes", bytes.len());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| codec.encode_server_in(version, std::hint::black_box(&msg)))
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                if version == 1 {
                    plaza_net::v1::decode_server(codec, std::hint::black_box(&bytes)).map(|_| ())
                } else {
                    codec
                        .decode_server(std::hint::black_box(&bytes))
                        .map(|_| ())
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
