//! Connection slots: every connection the server holds (a TCP connection, which may become
//! a WebSocket, a QUIC connection, a WebTransport session) takes one slot, at most
//! `max_connections` in all and `max_connections_per_addr` from one client address, so
//! that no address can hold every slot. A slot is given back when its [`Slot`] is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefused {
    /// Every slot is taken.
    #[error("the server is at max_connections; retry later")]
    Full,
    /// This address holds its share already.
    #[error("too many connections from this address (max_connections_per_addr); close some")]
    AddressFull,
}

/// The slots of one server.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    max_per_addr: usize,
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    in_use: AtomicUsize,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
}

impl Inner {
    fn per_addr(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counting cannot leave the map half-updated, so a poisoned lock is used as it is.
        self.per_addr.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One taken slot; dropping it gives the slot back.
#[derive(Debug)]
pub struct Slot {
    addr: IpAddr,
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_addr = self.inner.per_addr();
        if let Some(count) = per_addr.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                per_addr.remove(&self.addr);
            }
        }
        self.inner.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Slots {
    /// `max` slots in all, `max_per_addr` per client address.
    pub fn new(max: usize, max_per_addr: usize) -> Self {
        Self {
            max,
            max_per_addr,
            inner: Arc::default(),
        }
    }

    /// A slot for a connection from `addr`, if one is free for it.
    pub fn take(&self, addr: IpAddr) -> Result<Slot, SlotRefused> {
        let mut per_addr = self.inner.per_addr();
        if self.inner.in_use.load(Ordering::Relaxed) >= self.max {
            return Err(SlotRefused::Full);
        }
        let count = per_addr.entry(addr).or_insert(0);
        if *count >= self.max_per_addr {
            return Err(SlotRefused::AddressFull);
        }
        *count += 1;
        self.inner.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            addr,
            inner: self.inner.clone(),
        })
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.inner.in_use.load(Ordering::Relaxed)
    }

    /// Addresses holding at least one slot now.
    pub fn addresses(&self) -> usize {
        self.inner.per_addr().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_come_back() {
        let slots = Slots::new(3, 2);
        let (a, b, c) = (
            IpAddr::from([10, 0, 0, 1]),
            IpAddr::from([10, 0, 0, 2]),
            IpAddr::from([10, 0, 0, 3]),
        );
        let a1 = slots.take(a).expect("free");
        let _a2 = slots.take(a).expect("free");
        assert_eq!(slots.take(a).err(), Some(SlotRefused::AddressFull));
        let _b1 = slots.take(b).expect("free");
        assert_eq!(slots.take(c).err(), Some(SlotRefused::Full));
        drop(a1);
        assert_eq!(slots.in_use(), 2);
        let _c1 = slots.take(c).expect("a slot came back");
        assert_eq!(slots.addresses(), 3);
    }
}
