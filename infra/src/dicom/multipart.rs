//! A push parser for `multipart/related` bodies (RFC 2046, RFC 2387), the form of a
//! WADO-RS response. The caller feeds chunks as they arrive and takes each part's body out
//! in pieces as soon as they cannot be the start of a delimiter, so memory holds one chunk
//! (plus a delimiter's length), never a whole part: the caller spools parts to disk.

use memchr::memmem;

use super::web::DicomWebError;

/// Longest header block of one part; DICOMweb parts carry two or three short headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (a preamble, ignored).
    Preamble,
    /// Right after a delimiter: `--` closes, otherwise the rest of the line is padding.
    AfterDelimiter,
    /// In a part's header block.
    Headers,
    /// In a part's body.
    Body,
    /// After the closing delimiter: the epilogue is ignored.
    Closed,
}

/// What the parser has for its caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// More bytes of the current part's body.
    Data(Vec<u8>),
    /// The current part's body is complete.
    End,
}

/// Parses one `multipart/related` body fed in chunks.
pub(crate) struct MultipartParser {
    /// `CRLF--boundary`: every delimiter, the first included because `buf` starts with CRLF.
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    /// Where the next delimiter search starts in `buf` (what is before has been searched).
    scanned: usize,
    state: State,
    max_part_bytes: u64,
    /// Bytes of the current part's body given out so far.
    part_bytes: u64,
}

impl MultipartParser {
    pub(crate) fn new(boundary: &str, max_part_bytes: u64) -> Self {
        Self {
            delimiter: [b"\r\n--", boundary.as_bytes()].concat(),
            buf: b"\r\n".to_vec(),
            scanned: 0,
            state: State::Preamble,
            max_part_bytes,
            part_bytes: 0,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.state != State::Closed {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Whether the closing delimiter was seen: the body is complete.
    pub(crate) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The next piece of a part, `None` until more input brings one.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Piece>, DicomWebError> {
        loop {
            let progressed = match self.state {
                State::Preamble => self.skip_preamble()?,
                State::AfterDelimiter => self.after_delimiter()?,
                State::Headers => self.headers()?,
                State::Body => return self.body(),
                State::Closed => return Ok(None),
            };
            if !progressed {
                return Ok(None);
            }
        }
    }

    /// The position of the next delimiter at or after `scanned`, remembering how far the
    /// search went so that a part arriving in many chunks is searched once.
    fn find_delimiter(&mut self) -> Option<usize> {
        let found = memmem::find(&self.buf[self.scanned..], &self.delimiter);
        match found {
            Some(at) => Some(self.scanned + at),
            None => {
                self.scanned = self.buf.len().saturating_sub(self.delimiter.len() - 1);
                None
            }
        }
    }

    fn consume(&mut self, len: usize) {
        self.buf.drain(..len);
        self.scanned = 0;
    }

    fn skip_preamble(&mut self) -> Result<bool, DicomWebError> {
        match self.find_delimiter() {
            Some(at) => {
                self.consume(at + self.delimiter.len());
                self.state = State::AfterDelimiter;
                Ok(true)
            }
            None if self.buf.len() > MAX_HEADER_BYTES => Err(DicomWebError::InvalidResponse(
                "no multipart boundary at the start of the body",
            )),
            None => Ok(false),
        }
    }

    fn after_delimiter(&mut self) -> Result<bool, DicomWebError> {
        if self.buf.starts_with(b"--") {
            self.buf = Vec::new();
            self.state = State::Closed;
            return Ok(true);
        }
        if self.buf.len() < 2 {
            return Ok(false);
        }
        match memmem::find(&self.buf, b"\r\n") {
            Some(end) if self.buf[..end].iter().all(|b| matches!(b, b' ' | b'\t')) => {
                self.consume(end + 2);
                self.state = State::Headers;
                Ok(true)
            }
            Some(_) => Err(DicomWebError::InvalidResponse(
                "text after a multipart boundary",
            )),
            None if self.buf.len() > MAX_HEADER_BYTES => Err(DicomWebError::InvalidResponse(
                "multipart boundary line too long",
            )),
            None => Ok(false),
        }
    }

    fn headers(&mut self) -> Result<bool, DicomWebError> {
        let end = if self.buf.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            memmem::find(&self.buf, b"\r\n\r\n").map(|at| (at, at + 4))
        };
        let Some((headers_end, body_start)) = end else {
            if self.buf.len() > MAX_HEADER_BYTES {
                return Err(DicomWebError::InvalidResponse("multipart headers too long"));
            }
            return Ok(false);
        };
        check_part_headers(&self.buf[..headers_end])?;
        self.consume(body_start);
        self.state = State::Body;
        Ok(true)
    }

    fn body(&mut self) -> Result<Option<Piece>, DicomWebError> {
        // The CRLF before a delimiter belongs to the delimiter, so the end of a body is a
        // delimiter at 0; what lies before a delimiter, or before where one could start,
        // is body.
        let data_end = match self.find_delimiter() {
            Some(0) => {
                self.consume(self.delimiter.len());
                self.state = State::AfterDelimiter;
                self.part_bytes = 0;
                return Ok(Some(Piece::End));
            }
            Some(at) => at,
            None => self.scanned,
        };
        if data_end == 0 {
            return Ok(None);
        }
        self.part_bytes += data_end as u64;
        if self.part_bytes > self.max_part_bytes {
            return Err(DicomWebError::InstanceTooLarge(self.max_part_bytes));
        }
        let rest = self.buf.split_off(data_end);
        let data = std::mem::replace(&mut self.buf, rest);
        self.scanned = 0;
        Ok(Some(Piece::Data(data)))
    }
}

/// A part must be DICOM: a part of another type means the server did not honour the
/// request's Accept, and storing it as DICOM would be wrong.
fn check_part_headers(block: &[u8]) -> Result<(), DicomWebError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| DicomWebError::InvalidResponse("multipart headers are not text"))?;
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or_default().trim();
            if !media.eq_ignore_ascii_case("application/dicom") {
                return Err(DicomWebError::InvalidResponse(
                    "a multipart part that is not application/dicom",
                ));
            }
        }
    }
    Ok(())
}

/// The boundary of a `multipart/related` Content-Type, or why there is none.
pub(crate) fn boundary_of(content_type: &str) -> Result<String, DicomWebError> {
    let mut fields = content_type.split(';');
    let media = fields.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("multipart/related") {
        return Err(DicomWebError::InvalidResponse(
            "the retrieval answer is not multipart/related",
        ));
    }
    fields
        .filter_map(|field| field.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|boundary| !boundary.is_empty() && boundary.len() <= 70)
        .ok_or(DicomWebError::InvalidResponse(
            "multipart/related without a valid boundary",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(boundary: &str, parts: &[&[u8]]) -> Vec<u8> {
        let mut out = b"a preamble to ignore\r\n".to_vec();
        for part in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            out.extend_from_slice(b"Content-Type: application/dicom\r\n");
            out.extend_from_slice(b"Content-Location: /x\r\n\r\n");
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\nepilogue").as_bytes());
        out
    }

    /// Collects the pieces of a parser into whole parts.
    #[derive(Default)]
    struct Parts {
        done: Vec<Vec<u8>>,
        current: Vec<u8>,
    }

    impl Parts {
        /// Takes every piece `parser` has; the first error stops.
        fn take(&mut self, parser: &mut MultipartParser) -> Result<(), DicomWebError> {
            while let Some(piece) = parser.next_piece()? {
                match piece {
                    Piece::Data(data) => self.current.extend_from_slice(&data),
                    Piece::End => self.done.push(std::mem::take(&mut self.current)),
                }
            }
            Ok(())
        }
    }

    /// Feeds `input` in chunks of `size` bytes and collects the parts.
    fn parse(input: &[u8], size: usize, boundary: &str) -> Result<Vec<Vec<u8>>, DicomWebError> {
        let mut parser = MultipartParser::new(boundary, 1 << 20);
        let mut parts = Parts::default();
        for chunk in input.chunks(size) {
            parser.push(chunk);
            parts.take(&mut parser)?;
        }
        assert!(parser.is_closed(), "closing delimiter not seen");
        Ok(parts.done)
    }

    #[test]
    fn parts_come_out_whole_whatever_the_chunking() {
        // Bodies that contain CRLF, dashes and a near-boundary, and an empty one.
        let parts: [&[u8]; 4] = [
            b"DICM\r\n--bound but not quite\r\n",
            b"",
            b"\r\n\r\nsecond",
            &[0u8, 1, 2, 255, b'\r', b'\n', b'-', b'-'],
        ];
        let input = body("bound42", &parts);
        for size in 1..=input.len() {
            let got = parse(&input, size, "bound42").expect("parses");
            assert_eq!(got, parts.map(|p| p.to_vec()).to_vec(), "chunks of {size}");
        }
    }

    #[test]
    fn a_body_starting_with_its_boundary_and_no_parts() {
        let got = parse(b"--b--", 2, "b").expect("parses");
        assert!(got.is_empty());
    }

    #[test]
    fn a_part_larger_than_the_limit_is_refused() {
        let big = vec![7u8; 5000];
        let input = body("b", &[&big]);
        // Whole, or arriving in pieces (refused before the end arrives).
        let mut parser = MultipartParser::new("b", 1000);
        parser.push(&input);
        assert!(matches!(
            Parts::default().take(&mut parser),
            Err(DicomWebError::InstanceTooLarge(1000))
        ));
        // arriving in pieces: refused once 1000 bytes of it came, long before its end, and
        // no piece is larger than what one chunk brought
        let mut parser = MultipartParser::new("b", 1000);
        let mut parts = Parts::default();
        let mut fed = 0;
        let refused = input.chunks(100).find_map(|chunk| {
            fed += chunk.len();
            parser.push(chunk);
            parts.take(&mut parser).err()
        });
        assert!(matches!(
            refused,
            Some(DicomWebError::InstanceTooLarge(1000))
        ));
        assert!(fed <= 1200, "{fed} bytes fed before the refusal");
        assert!(parts.current.len() <= 1000);
        let exactly = vec![7u8; 1000];
        let mut parser = MultipartParser::new("b", 1000);
        parser.push(&body("b", &[&exactly]));
        let mut parts = Parts::default();
        parts.take(&mut parser).expect("a part");
        assert_eq!(parts.done, [exactly]);
    }

    #[test]
    fn a_part_of_another_type_is_refused() {
        let input = b"--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--";
        let mut parser = MultipartParser::new("b", 1000);
        parser.push(input);
        assert!(matches!(
            Parts::default().take(&mut parser),
            Err(DicomWebError::InvalidResponse(_))
        ));
    }

    #[test]
    fn boundaries_from_content_types() {
        let quoted = r#"multipart/related; type="application/dicom"; boundary="a b:c""#;
        assert_eq!(boundary_of(quoted).expect("a boundary"), "a b:c");
        let plain = "Multipart/Related;boundary=xyz;type=application/dicom";
        assert_eq!(boundary_of(plain).expect("a boundary"), "xyz");
        assert!(boundary_of("application/dicom").is_err());
        assert!(boundary_of("multipart/related; type=application/dicom").is_err());
    }
}
