//! RecordIO, the framing of every v1 event stream:
//! `record = <decimal length> "\n" <length bytes>`.
//!
//! Owns the [`encode`]r and an incremental [`Decoder`] that accepts input
//! cut anywhere (proxies re-chunk streams freely), rejects malformed length
//! prefixes, and refuses records over a configurable maximum before
//! buffering them. It does not own the transport or the record contents.

use bytes::{BufMut, Bytes, BytesMut};

/// Default largest record the [`Decoder`] accepts: 64 MiB, enough for a
/// GET_STATE snapshot of a large cluster.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;

/// The longest length prefix (`u64::MAX` has 20 digits).
const MAX_LENGTH_DIGITS: usize = 20;

/// Errors from decoding a RecordIO stream. After any of them the decoder
/// stays failed: the stream has lost its framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// A byte other than a decimal digit or `\n` in a length prefix.
    #[error("invalid byte {byte:#04x} in record length prefix")]
    InvalidLengthByte {
        /// The offending byte.
        byte: u8,
    },
    /// A `\n` with no digits before it.
    #[error("empty record length prefix")]
    EmptyLength,
    /// More digits than any `u64` has.
    #[error("record length prefix is longer than {MAX_LENGTH_DIGITS} digits")]
    LengthTooLong,
    /// A length over the decoder's maximum.
    #[error("record of {length} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// The announced length.
        length: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The stream ended in the middle of a record.
    #[error("stream ended inside a record")]
    Truncated,
    /// Input after an earlier error.
    #[error("decoder used after an earlier error")]
    Failed,
}

/// Appends one framed record to `out`.
pub fn encode_into(record: &[u8], out: &mut BytesMut) {
    let header = record.len().to_string();
    out.reserve(header.len() + 1 + record.len());
    out.put_slice(header.as_bytes());
    out.put_u8(b'\n');
    out.put_slice(record);
}

/// One framed record. Mesos never sends empty records; callers encode
/// JSON messages, which are never empty.
pub fn encode(record: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode_into(record, &mut out);
    out.freeze()
}

#[derive(Debug)]
enum State {
    /// Reading the length prefix; holds the digits seen so far.
    Length { value: u64, digits: usize },
    /// Reading a record body; `remaining` bytes still to come.
    Body { remaining: usize },
    /// An error happened; the framing is lost.
    Failed,
}

/// Incremental RecordIO decoder: feed it chunks, get complete records.
#[derive(Debug)]
pub struct Decoder {
    max_record_size: usize,
    state: State,
    record: BytesMut,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_SIZE)
    }
}

impl Decoder {
    /// A decoder refusing records longer than `max_record_size` bytes.
    pub fn new(max_record_size: usize) -> Self {
        Self {
            max_record_size,
            state: State::Length {
                value: 0,
                digits: 0,
            },
            record: BytesMut::new(),
        }
    }

    /// Consumes `chunk` and returns the records it completed, in order.
    /// A record split across chunks is returned by the call that delivers
    /// its last byte.
    pub fn decode(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
        let mut records = Vec::new();
        let mut input = chunk;
        while !input.is_empty() {
            match &mut self.state {
                State::Failed => return Err(RecordIoError::Failed),
                State::Length { value, digits } => {
                    let byte = input[0];
                    input = &input[1..];
                    match byte {
                        b'0'..=b'9' => {
                            *digits += 1;
                            let next = value
                                .checked_mul(10)
                                .and_then(|v| v.checked_add(u64::from(byte - b'0')));
                            match next {
                                Some(v) if *digits <= MAX_LENGTH_DIGITS => *value = v,
                                _ => return self.fail(RecordIoError::LengthTooLong),
                            }
                        }
                        b'\n' if *digits == 0 => return self.fail(RecordIoError::EmptyLength),
                        b'\n' => {
                            let length = *value;
                            let within = usize::try_from(length)
                                .ok()
                                .filter(|l| *l <= self.max_record_size);
                            let Some(length) = within else {
                                return self.fail(RecordIoError::RecordTooLarge {
                                    length,
                                    max: self.max_record_size,
                                });
                            };
                            if length == 0 {
                                records.push(Bytes::new());
                                self.state = State::Length {
                                    value: 0,
                                    digits: 0,
                                };
                            } else {
                                self.record = BytesMut::with_capacity(length.min(input.len()));
                                self.state = State::Body { remaining: length };
                            }
                        }
                        other => {
                            return self.fail(RecordIoError::InvalidLengthByte { byte: other });
                        }
                    }
                }
                State::Body { remaining } => {
                    let take = (*remaining).min(input.len());
                    self.record.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    *remaining -= take;
                    if *remaining == 0 {
                        records.push(std::mem::take(&mut self.record).freeze());
                        self.state = State::Length {
                            value: 0,
                            digits: 0,
                        };
                    }
                }
            }
        }
        Ok(records)
    }

    /// Call at end of stream: fails if a record (or its length prefix) was
    /// cut off.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match self.state {
            State::Length { digits: 0, .. } => Ok(()),
            State::Failed => Err(RecordIoError::Failed),
            _ => Err(RecordIoError::Truncated),
        }
    }

    fn fail(&mut self, error: RecordIoError) -> Result<Vec<Bytes>, RecordIoError> {
        self.state = State::Failed;
        self.record = BytesMut::new();
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream(records: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for r in records {
            encode_into(r, &mut out);
        }
        out.to_vec()
    }

    const SAMPLE: &[&[u8]] = &[
        br#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f"}}}"#,
        br#"{"type":"HEARTBEAT"}"#,
        b"x",
        br#"{"type":"OFFERS","offers":{}}"#,
    ];

    #[test]
    fn encodes_decimal_length_prefix() {
        assert_eq!(&encode(b"hello")[..], b"5\nhello");
        assert_eq!(
            &encode(br#"{"type":"HEARTBEAT"}"#)[..],
            b"20\n{\"type\":\"HEARTBEAT\"}"
        );
    }

    #[test]
    fn decodes_whole_stream_at_once() {
        let mut d = Decoder::default();
        let out = d.decode(&stream(SAMPLE)).unwrap();
        assert_eq!(
            out,
            SAMPLE.iter().map(|r| Bytes::from(*r)).collect::<Vec<_>>()
        );
        d.finish().unwrap();
    }

    #[test]
    fn decodes_input_split_at_every_byte() {
        let bytes = stream(SAMPLE);
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for b in &bytes {
            out.extend(d.decode(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(
            out,
            SAMPLE.iter().map(|r| Bytes::from(*r)).collect::<Vec<_>>()
        );
        d.finish().unwrap();
    }

    #[test]
    fn decodes_input_split_in_two_at_every_position() {
        let bytes = stream(SAMPLE);
        for cut in 0..=bytes.len() {
            let mut d = Decoder::default();
            let mut out = d.decode(&bytes[..cut]).unwrap();
            out.extend(d.decode(&bytes[cut..]).unwrap());
            assert_eq!(out.len(), SAMPLE.len(), "cut at {cut}");
            d.finish().unwrap();
        }
    }

    #[test]
    fn rejects_malformed_prefixes() {
        assert_eq!(
            Decoder::default().decode(b"12a\n"),
            Err(RecordIoError::InvalidLengthByte { byte: b'a' })
        );
        assert_eq!(
            Decoder::default().decode(b" 5\nhello"),
            Err(RecordIoError::InvalidLengthByte { byte: b' ' })
        );
        assert_eq!(
            Decoder::default().decode(b"\n"),
            Err(RecordIoError::EmptyLength)
        );
        assert_eq!(
            Decoder::default().decode(b"-1\n"),
            Err(RecordIoError::InvalidLengthByte { byte: b'-' })
        );
        assert_eq!(
            Decoder::default().decode(b"99999999999999999999999\n"),
            Err(RecordIoError::LengthTooLong)
        );
    }

    #[test]
    fn rejects_oversized_records_before_buffering() {
        let mut d = Decoder::new(4);
        assert_eq!(
            d.decode(b"4\nabcd").unwrap(),
            vec![Bytes::from_static(b"abcd")]
        );
        assert_eq!(
            d.decode(b"5\n"),
            Err(RecordIoError::RecordTooLarge { length: 5, max: 4 })
        );
        assert_eq!(d.decode(b"abcde"), Err(RecordIoError::Failed));
    }

    #[test]
    fn detects_truncation_at_end_of_stream() {
        let mut d = Decoder::default();
        assert!(d.decode(b"5\nhel").unwrap().is_empty());
        assert_eq!(d.finish(), Err(RecordIoError::Truncated));
        let mut d = Decoder::default();
        assert!(d.decode(b"12").unwrap().is_empty());
        assert_eq!(d.finish(), Err(RecordIoError::Truncated));
    }

    #[test]
    fn tolerates_zero_length_records() {
        let mut d = Decoder::default();
        assert_eq!(
            d.decode(b"0\n1\na").unwrap(),
            vec![Bytes::new(), Bytes::from_static(b"a")]
        );
    }

    proptest! {
        #[test]
        fn any_rechunking_yields_the_same_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..20),
            cuts in proptest::collection::vec(1usize..64, 1..50),
        ) {
            let mut bytes = BytesMut::new();
            for r in &records {
                encode_into(r, &mut bytes);
            }
            let mut d = Decoder::default();
            let mut out = Vec::new();
            let mut rest = &bytes[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                out.extend(d.decode(&rest[..n]).unwrap());
                rest = &rest[n..];
            }
            d.finish().unwrap();
            let expected: Vec<Bytes> = records.into_iter().map(Bytes::from).collect();
            prop_assert_eq!(out, expected);
        }
    }
}
