//! Server-sent events, read incrementally from the chunks an HTTP body arrives in.
//!
//! Chunks may split a line (or a UTF-8 character) anywhere; an event ends at a blank line. Lines
//! end with `\n`, `\r\n` or `\r`. A line that is not an SSE field but a bare JSON object (some
//! servers stream NDJSON under an SSE content type) is taken as a `data:` line.

/// One event: its `event:` name, if any, and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    /// The last byte was a `\r` (a following `\n` belongs to the same line end).
    after_cr: bool,
}

impl SseParser {
    /// Feeds one chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.buf);
                    self.line(&String::from_utf8_lossy(&line), &mut out);
                }
                _ => self.buf.push(b),
            }
        }
        out
    }

    /// The end of the body: a last event not followed by a blank line.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&String::from_utf8_lossy(&line), &mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(SseEvent { event, data });
        }
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return; // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) if !line.starts_with('{') => (f, v.strip_prefix(' ').unwrap_or(v)),
            _ if line.trim_start().starts_with('{') => {
                // NDJSON: each line is an event of its own.
                self.dispatch(out);
                out.push(SseEvent {
                    event: None,
                    data: line.to_string(),
                });
                return;
            }
            _ => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry, unknown fields
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parts: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for part in parts {
            out.extend(p.push(part));
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn events_survive_any_split_of_the_bytes() {
        let body = "event: message_start\ndata: {\"a\":\"é\"}\n\n: ping\r\ndata: 1\r\ndata: 2\r\n\r\ndata: [DONE]\n\n";
        let whole = all(&[body.as_bytes()]);
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":\"é\"}".into()
                },
                SseEvent {
                    event: None,
                    data: "1\n2".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
        let bytes = body.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(all(&[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), whole);
    }

    #[test]
    fn a_last_event_without_a_blank_line_and_bare_json_lines_are_kept() {
        assert_eq!(
            all(&[b"data: {\"x\":1}"]),
            vec![SseEvent {
                event: None,
                data: "{\"x\":1}".into()
            }]
        );
        let ndjson = all(&[b"{\"a\":1}\n{\"b\":2}\n"]);
        assert_eq!(ndjson.len(), 2);
        assert_eq!(ndjson[1].data, "{\"b\":2}");
    }
}
