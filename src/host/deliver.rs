//! The fan-out: each tick's events, handed to the outbound queues of the connections they
//! are for. Each form of an event is built, and encoded per codec, only when a recipient
//! needs it, once for however many recipients share it; the bytes are shared, never copied
//! per recipient.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use plaza_systems::{ConnId, Delta, Event, Outgoing, Recipients};
use tokio::sync::mpsc;

use crate::edge::bridge::{
    Frame, SharedEncoding, event_to_wire, fallback_msg, is_empty_delta, motion_msg, rest_msg,
};
use crate::edge::conn::{CloseReason, ConnHandle};
use crate::telemetry::{Telemetry, TickStats};

/// What delivery counts into, and the queue size it names to a client closed as too slow.
pub(crate) struct Delivery<'a> {
    /// Per-transport traffic (datagrams are counted here; stream frames by their writer).
    pub(crate) telemetry: &'a Telemetry,
    /// Slow disconnects.
    pub(crate) stats: &'a TickStats,
    /// Capacity of each outbound queue.
    pub(crate) outbound_queue_frames: usize,
}

/// The forms of one event, each built on first need. A connection without datagrams gets
/// the full message; one with datagrams gets a delta's motion as datagrams and the rest on
/// its stream, or everything on its stream if the motion cannot go as a datagram.
#[derive(Default)]
struct Forms {
    full: Option<Option<SharedEncoding>>,
    motion: Option<Option<SharedEncoding>>,
    rest: Option<Option<SharedEncoding>>,
    fallback: Option<SharedEncoding>,
}

impl Delivery<'_> {
    /// Hands every event of `outgoing` to its recipients among `conns`, leaving `outgoing`
    /// empty (with its allocation, for the next tick).
    pub(crate) fn deliver(
        &self,
        outgoing: &mut Vec<Outgoing>,
        conns: &HashMap<ConnId, ConnHandle>,
    ) {
        for out in outgoing.drain(..) {
            let to = match &out.to {
                Recipients::One(conn) => std::slice::from_ref(conn),
                Recipients::Many(conns) => conns.as_slice(),
            };
            let recipients = to.iter().filter_map(|c| conns.get(c));
            if let Event::Close { reason } = &out.event {
                for handle in recipients {
                    handle.close.close(CloseReason::policy(reason.clone()));
                }
                continue;
            }
            let delta = match &out.event {
                Event::Delta(d) => Some(&**d),
                _ => None,
            };
            let mut forms = Forms::default();
            for handle in recipients {
                if let Some(frame) = self.frame_for(handle, &out.event, delta, &mut forms) {
                    self.enqueue(handle, frame);
                }
            }
        }
    }

    /// The frame `handle` gets on its stream for `event` (after its motion datagram, if it
    /// takes datagrams and the event is a delta); `None` if nothing is left for the stream.
    fn frame_for(
        &self,
        handle: &ConnHandle,
        event: &Event,
        delta: Option<&Delta>,
        forms: &mut Forms,
    ) -> Option<Frame> {
        let codec = handle.codec;
        let (Some(datagrams), Some(d)) = (&handle.datagrams, delta) else {
            // A delta of only settled states carries nothing for connections that got
            // every change reliably.
            let full = forms.full.get_or_insert_with(|| {
                event_to_wire(event)
                    .filter(|msg| !is_empty_delta(msg))
                    .map(SharedEncoding::new)
            });
            return full.as_mut().map(|full| full.frame(codec));
        };
        let motion = forms
            .motion
            .get_or_insert_with(|| motion_msg(d).map(SharedEncoding::new));
        let sent = motion.as_mut().is_none_or(|motion| {
            let bytes = motion.frame(codec).bytes;
            let len = bytes.len() as u64;
            // The transport refuses what exceeds the peer's datagram limit.
            let sent = datagrams.send(bytes);
            if sent {
                let counters = self.telemetry.transport(handle.transport);
                counters.messages_out.fetch_add(1, Ordering::Relaxed);
                counters.bytes_out.fetch_add(len, Ordering::Relaxed);
            }
            sent
        });
        if sent {
            let rest = forms
                .rest
                .get_or_insert_with(|| rest_msg(d).map(SharedEncoding::new));
            rest.as_mut().map(|rest| rest.frame(codec))
        } else {
            let fallback = forms
                .fallback
                .get_or_insert_with(|| SharedEncoding::new(fallback_msg(d)));
            Some(fallback.frame(codec))
        }
    }

    /// Queues `frame` for `handle`; a full queue closes the connection as too slow.
    fn enqueue(&self, handle: &ConnHandle, frame: Frame) {
        if let Err(mpsc::error::TrySendError::Full(_)) = handle.tx.try_send(frame)
            && handle.close.reason().is_none()
        {
            self.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
            handle.close.close(CloseReason::policy(format!(
                "too slow: {} messages were waiting to be sent",
                self.outbound_queue_frames
            )));
        }
    }
}
