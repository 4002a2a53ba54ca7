//! The primary's bounded in-memory window of recent records: a ring of
//! pre-allocated slots indexed by `seq % capacity`, so retransmission of recent
//! records needs no I/O and pushing allocates nothing after warm-up.

/// A ring of the last `capacity` records.
pub struct Window {
    slots: Vec<Vec<u8>>,
    /// Seq of the oldest record still held.
    start: u64,
    /// Seq one past the newest record.
    end: u64,
}

impl Window {
    /// A window of `capacity` records, slots pre-sized to `record_capacity` bytes,
    /// whose first record will be `first_seq`.
    pub fn new(capacity: usize, record_capacity: usize, first_seq: u64) -> Self {
        let capacity = capacity.max(1);
        Window {
            slots: (0..capacity)
                .map(|_| Vec::with_capacity(record_capacity))
                .collect(),
            start: first_seq,
            end: first_seq,
        }
    }

    /// Appends the record with seq [`end`](Self::end), evicting the oldest when full.
    pub fn push(&mut self, rec: &[u8]) {
        let cap = self.slots.len() as u64;
        let slot = &mut self.slots[(self.end % cap) as usize];
        slot.clear();
        slot.extend_from_slice(rec);
        self.end += 1;
        if self.end - self.start > cap {
            self.start = self.end - cap;
        }
    }

    /// The record `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        if seq < self.start || seq >= self.end {
            return None;
        }
        let cap = self.slots.len() as u64;
        Some(&self.slots[(seq % cap) as usize])
    }

    /// Seq of the oldest record held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Seq one past the newest record.
    pub fn end(&self) -> u64 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest() {
        let mut w = Window::new(3, 8, 10);
        for i in 0..5u8 {
            w.push(&[i]);
        }
        assert_eq!((w.start(), w.end()), (12, 15));
        assert_eq!(w.get(11), None);
        assert_eq!(w.get(12), Some(&[2u8][..]));
        assert_eq!(w.get(14), Some(&[4u8][..]));
        assert_eq!(w.get(15), None);
    }
}
