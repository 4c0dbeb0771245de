//! The fan-out: each tick's events, handed to the outbound queues of the connections they
//! are for. Each form of an event is built, and encoded per dialect (protocol version and
//! codec), only when a recipient needs it, once for however many recipients share it; the
//! bytes are shared, never copied per recipient. A whole-space delta also has a form whose
//! avatars are coded against the previous one, for binary connections of the current
//! protocol that get every delta on their stream.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use plaza_systems::{ConnId, Delta, Event, Outgoing, Recipients};
use tokio::sync::mpsc;

use super::datagrams::DatagramPost;
use crate::edge::bridge::{
    Dialect, Frame, MotionBases, SharedEncoding, event_to_wire, fallback_msg, is_empty_delta,
    motion_datagrams, motion_msg, rest_msg,
};
use crate::edge::conn::{CloseReason, ConnHandle};
use crate::telemetry::TickStats;

/// What delivery counts into, and the queue size it names to a client closed as too slow.
pub(crate) struct Delivery<'a> {
    /// What connections have of each avatar, per space.
    pub(crate) bases: &'a mut MotionBases,
    /// Where motion datagrams go, a batch per tick.
    pub(crate) post: &'a mut DatagramPost,
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
    /// A whole-space delta with its avatars coded against the previous one's.
    relative: Option<SharedEncoding>,
    motion: Option<Option<Motion>>,
    rest: Option<Option<SharedEncoding>>,
    fallback: Option<SharedEncoding>,
}

impl Forms {
    /// The whole message, for connections that get every change reliably; `None` for a
    /// close, and for a delta of only settled states, which carries nothing for them.
    fn full(&mut self, event: &Event) -> Option<&mut SharedEncoding> {
        self.full
            .get_or_insert_with(|| {
                event_to_wire(event)
                    .filter(|msg| !is_empty_delta(msg))
                    .map(SharedEncoding::new)
            })
            .as_mut()
    }
}

/// A delta's motion, encoded whole and, when that is too big for a datagram, split per
/// dialect and size limit, each on first need.
struct Motion {
    whole: SharedEncoding,
    /// `None`: one entry alone is over that limit.
    datagrams: Vec<((Dialect, usize), Option<Vec<Frame>>)>,
}

impl Motion {
    fn whole(&mut self, dialect: Dialect) -> Frame {
        self.whole.frame(dialect)
    }

    fn datagrams(&mut self, dialect: Dialect, limit: usize) -> Option<&[Frame]> {
        let key = (dialect, limit);
        let at = match self.datagrams.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let whole = self.whole.frame(dialect);
                let split = motion_datagrams(self.whole.msg(), whole, dialect, limit);
                self.datagrams.push((key, split));
                self.datagrams.len() - 1
            }
        };
        self.datagrams[at].1.as_deref()
    }
}

impl Delivery<'_> {
    /// Hands every event of `outgoing` to its recipients among `conns`, leaving `outgoing`
    /// empty (with its allocation, for the next tick).
    pub(crate) fn deliver(
        &mut self,
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
            if let Event::Moved { .. } = &out.event {
                for handle in recipients.clone() {
                    handle.close.send_elsewhere();
                }
            }
            let delta = match &out.event {
                Event::Delta(d) => Some(&**d),
                _ => None,
            };
            let mut forms = Forms::default();
            if let Some(d) = delta.filter(|d| d.whole_space) {
                self.advance_bases(d, &out.event, &mut forms);
            }
            for handle in recipients {
                if let Some(frame) = self.frame_for(handle, &out.event, delta, &mut forms) {
                    self.enqueue(handle, frame);
                }
            }
        }
        self.post.flush(self.stats);
    }

    /// Every whole-space delta moves the space's bases on, whoever gets it; its relative
    /// form is kept for the connections that take it.
    /// A delta that is empty for reliable connections moves nothing on either.
    fn advance_bases(&mut self, d: &Delta, event: &Event, forms: &mut Forms) {
        let Some(full) = forms.full(event) else {
            return;
        };
        let Some(coded) = self.bases.advance(d.space, full.msg()) else {
            return;
        };
        let mut relative = full.msg().clone();
        if let plaza_net::ServerMsg::Delta { avatars, .. } = &mut relative {
            *avatars = coded;
        }
        forms.relative = Some(SharedEncoding::new(relative));
    }

    /// The frame `handle` gets on its stream for `event` (after its motion datagram, if it
    /// takes datagrams and the event is a delta); `None` if nothing is left for the stream.
    fn frame_for(
        &mut self,
        handle: &ConnHandle,
        event: &Event,
        delta: Option<&Delta>,
        forms: &mut Forms,
    ) -> Option<Frame> {
        let dialect = handle.dialect;
        let (Some(datagrams), Some(d)) = (&handle.datagrams, delta) else {
            if dialect.takes_relative_motion()
                && let Some(relative) = &mut forms.relative
            {
                return Some(relative.frame(dialect));
            }
            return forms.full(event).map(|full| full.frame(dialect));
        };
        let motion = forms.motion.get_or_insert_with(|| {
            motion_msg(d).map(|msg| Motion {
                whole: SharedEncoding::new(msg),
                datagrams: Vec::new(),
            })
        });
        // Decided from the connection's last known limit, so the tick never waits for a
        // transport; the datagram post hands them over after the tick.
        let limit = datagrams.limit();
        let post = &mut *self.post;
        let sent = motion.as_mut().is_none_or(|motion| {
            let whole = motion.whole(dialect);
            if whole.bytes.len() <= limit {
                post.push(datagrams, whole.bytes, handle.transport);
                return true;
            }
            let Some(frames) = (limit > 0)
                .then(|| motion.datagrams(dialect, limit))
                .flatten()
            else {
                return false;
            };
            for frame in frames {
                post.push(datagrams, frame.bytes.clone(), handle.transport);
            }
            true
        });
        if sent {
            let rest = forms
                .rest
                .get_or_insert_with(|| rest_msg(d).map(SharedEncoding::new));
            rest.as_mut().map(|rest| rest.frame(dialect))
        } else {
            let fallback = forms
                .fallback
                .get_or_insert_with(|| SharedEncoding::new(fallback_msg(d)));
            Some(fallback.frame(dialect))
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
