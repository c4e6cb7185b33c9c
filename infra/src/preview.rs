//! Previews of image files, drawn on the server so that nobody needs a viewer to see what
//! a job made: the middle axial slice of a NIfTI-1 volume (`.nii`, `.nii.gz`) or the first
//! frame of an uncompressed DICOM instance, as an 8-bit grey PNG windowed to the 1st–99th
//! percentile of the slice (so one hot voxel does not turn the rest black).

use std::io::Read;

use dicom_dictionary_std::tags;

/// Files larger than this (also after decompression) are not previewed: the default of
/// `MEDGRID_PREVIEW_MAX_SOURCE_BYTES`. A preview holds its source (and what gunzip makes
/// of it) in memory.
pub const MAX_BYTES: u64 = 128 << 20;
/// Slices with more pixels than this are not previewed.
const MAX_PIXELS: usize = 8192 * 8192;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreviewError {
    #[error("not an image Medgrid can preview (NIfTI-1 or DICOM)")]
    NotAnImage,
    #[error("this image cannot be previewed: {0}")]
    Unsupported(String),
    #[error("the image is damaged: {0}")]
    Corrupt(String),
    #[error(
        "no preview: the file is larger than the {0} bytes a preview is drawn of (MEDGRID_PREVIEW_MAX_SOURCE_BYTES)"
    )]
    TooLarge(u64),
}

/// One slice, its values in row order (first row at the top).
struct Slice {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

/// The preview of `bytes` as PNG, of files up to [`MAX_BYTES`].
pub fn png(bytes: &[u8]) -> Result<Vec<u8>, PreviewError> {
    png_within(bytes, MAX_BYTES)
}

/// The preview of the file as PNG, unless it is larger than `max_source` bytes: then it
/// is not read at all.
pub fn of_file(file: &std::fs::File, max_source: u64) -> Result<Vec<u8>, PreviewError> {
    let size = file
        .metadata()
        .map_err(|e| PreviewError::Corrupt(e.to_string()))?
        .len();
    if size > max_source {
        return Err(PreviewError::TooLarge(max_source));
    }
    let mut bytes = Vec::new();
    // a file growing meanwhile is read no further than the limit
    file.take(max_source + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PreviewError::Corrupt(e.to_string()))?;
    if bytes.len() as u64 > max_source {
        return Err(PreviewError::TooLarge(max_source));
    }
    png_within(&bytes, max_source)
}

/// The preview of `bytes` as PNG, refused when they inflate to more than `max_source`.
pub fn png_within(bytes: &[u8], max_source: u64) -> Result<Vec<u8>, PreviewError> {
    let inflated;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        inflated = gunzip(bytes, max_source)?;
        &inflated[..]
    } else {
        bytes
    };
    let slice = if let Some(slice) = nifti(bytes)? {
        slice
    } else if bytes.get(128..132) == Some(b"DICM") {
        dicom(bytes)?
    } else {
        return Err(PreviewError::NotAnImage);
    };
    encode(&slice)
}

fn gunzip(bytes: &[u8], max_source: u64) -> Result<Vec<u8>, PreviewError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max_source + 1)
        .read_to_end(&mut out)
        .map_err(|e| PreviewError::Corrupt(format!("gzip: {e}")))?;
    if out.len() as u64 > max_source {
        return Err(PreviewError::TooLarge(max_source));
    }
    Ok(out)
}

/// Little- or big-endian numbers of a header.
struct Fields<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N], PreviewError> {
        self.bytes
            .get(at..at + N)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| PreviewError::Corrupt("too short".into()))
    }
    fn i16(&self, at: usize) -> Result<i16, PreviewError> {
        let b = self.array::<2>(at)?;
        Ok(if self.big {
            i16::from_be_bytes(b)
        } else {
            i16::from_le_bytes(b)
        })
    }
    fn f32(&self, at: usize) -> Result<f32, PreviewError> {
        let b = self.array::<4>(at)?;
        Ok(if self.big {
            f32::from_be_bytes(b)
        } else {
            f32::from_le_bytes(b)
        })
    }
    /// The `i`th voxel of datatype `code` at byte `at`.
    fn voxel(&self, code: i16, at: usize) -> Result<f64, PreviewError> {
        let v = match code {
            2 => f64::from(self.array::<1>(at)?[0]),
            256 => f64::from(i8::from_ne_bytes(self.array::<1>(at)?)),
            4 => f64::from(self.i16(at)?),
            512 => {
                let b = self.array::<2>(at)?;
                f64::from(if self.big {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                })
            }
            8 => {
                let b = self.array::<4>(at)?;
                f64::from(if self.big {
                    i32::from_be_bytes(b)
                } else {
                    i32::from_le_bytes(b)
                })
            }
            768 => {
                let b = self.array::<4>(at)?;
                f64::from(if self.big {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                })
            }
            16 => f64::from(self.f32(at)?),
            64 => {
                let b = self.array::<8>(at)?;
                if self.big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                }
            }
            other => return Err(PreviewError::Unsupported(format!("NIfTI datatype {other}"))),
        };
        Ok(v)
    }
}

/// The middle axial slice of a single-file NIfTI-1 volume; None when it is not NIfTI.
fn nifti(bytes: &[u8]) -> Result<Option<Slice>, PreviewError> {
    let Some(size) = bytes.get(..4) else {
        return Ok(None);
    };
    let big = match size {
        [92, 1, 0, 0] => false,
        [0, 0, 1, 92] => true,
        _ => return Ok(None),
    };
    if bytes.get(344..347) != Some(b"n+1") {
        return Err(PreviewError::Unsupported(
            "a NIfTI header without its data (.hdr/.img pair)".into(),
        ));
    }
    let f = Fields { bytes, big };
    let dims: Vec<usize> = (0..4)
        .map(|i| {
            f.i16(40 + 2 * i)
                .map(|d| usize::try_from(d.max(1)).unwrap_or(1))
        })
        .collect::<Result<_, _>>()?;
    let (width, height) = (dims[1], dims[2]);
    let depth = if dims[0] >= 3 { dims[3] } else { 1 };
    let code = f.i16(70)?;
    let bytes_per = match code {
        2 | 256 => 1,
        4 | 512 => 2,
        8 | 16 | 768 => 4,
        64 => 8,
        other => return Err(PreviewError::Unsupported(format!("NIfTI datatype {other}"))),
    };
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(PreviewError::Unsupported("the slice is too large".into()));
    }
    let offset = f.f32(108)?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let offset = offset.max(352.0) as usize;
    let slope = f64::from(f.f32(112)?);
    let inter = f64::from(f.f32(116)?);
    let (slope, inter) = if slope == 0.0 || !slope.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, inter)
    };
    let z = depth / 2;
    let mut values = Vec::with_capacity(width * height);
    // row 0 of the picture is the top: the highest y (anterior) first
    for y in (0..height).rev() {
        for x in 0..width {
            let index = x + width * (y + height * z);
            let at = offset + index * bytes_per;
            values.push(f.voxel(code, at)? * slope + inter);
        }
    }
    Ok(Some(Slice {
        width,
        height,
        values,
    }))
}

/// The first frame of an uncompressed DICOM instance (grey, or colour made grey).
fn dicom(bytes: &[u8]) -> Result<Slice, PreviewError> {
    let object = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(&bytes[128..])
        .map_err(|e| PreviewError::Corrupt(format!("DICOM: {e}")))?;
    let number = |tag, what: &str| -> Result<usize, PreviewError> {
        object
            .element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| PreviewError::Unsupported(format!("no {what}")))
    };
    let rows = number(tags::ROWS, "rows (not an image)")?;
    let columns = number(tags::COLUMNS, "columns")?;
    let bits = number(tags::BITS_ALLOCATED, "bits allocated")?;
    let samples = number(tags::SAMPLES_PER_PIXEL, "samples per pixel").unwrap_or(1);
    let signed = number(tags::PIXEL_REPRESENTATION, "pixel representation").unwrap_or(0) == 1;
    let float = |tag| object.element(tag).ok().and_then(|e| e.to_float64().ok());
    let slope = float(tags::RESCALE_SLOPE).unwrap_or(1.0);
    let inter = float(tags::RESCALE_INTERCEPT).unwrap_or(0.0);
    if rows.saturating_mul(columns) > MAX_PIXELS {
        return Err(PreviewError::Unsupported("the frame is too large".into()));
    }
    let syntax = object.meta().transfer_syntax().trim_end_matches('\0');
    let big = match syntax {
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" => false,
        "1.2.840.10008.1.2.2" => true,
        other => {
            return Err(PreviewError::Unsupported(format!(
                "compressed pixel data (transfer syntax {other})"
            )));
        }
    };
    let data = object
        .element(tags::PIXEL_DATA)
        .map_err(|_| PreviewError::Unsupported("no pixel data".into()))?
        .to_bytes()
        .map_err(|e| PreviewError::Unsupported(format!("pixel data: {e}")))?;
    let f = Fields { bytes: &data, big };
    let code = match (bits, signed) {
        (8, false) => 2,
        (8, true) => 256,
        (16, false) => 512,
        (16, true) => 4,
        (32, false) => 768,
        (32, true) => 8,
        _ => return Err(PreviewError::Unsupported(format!("{bits} bits per sample"))),
    };
    let step = bits / 8;
    let mut values = Vec::with_capacity(rows * columns);
    for pixel in 0..rows * columns {
        let mut sum = 0.0;
        for s in 0..samples {
            sum += f.voxel(code, (pixel * samples + s) * step)?;
        }
        #[allow(clippy::cast_precision_loss)]
        values.push(sum / samples as f64 * slope + inter);
    }
    Ok(Slice {
        width: columns,
        height: rows,
        values,
    })
}

/// The slice as an 8-bit grey PNG, windowed to the 1st–99th percentile.
fn encode(slice: &Slice) -> Result<Vec<u8>, PreviewError> {
    let mut finite: Vec<f64> = slice
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    finite.sort_by(f64::total_cmp);
    let at = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((finite.len().saturating_sub(1)) as f64 * p).round() as usize;
        finite.get(i).copied().unwrap_or(0.0)
    };
    let (low, high) = (at(0.01), at(0.99));
    let span = if high > low { high - low } else { 1.0 };
    let pixels: Vec<u8> = slice
        .values
        .iter()
        .map(|v| {
            let scaled = ((v - low) / span * 255.0).clamp(0.0, 255.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let byte = if scaled.is_finite() {
                scaled.round() as u8
            } else {
                0
            };
            byte
        })
        .collect();
    let mut out = Vec::new();
    let (w, h) = (
        u32::try_from(slice.width).map_err(|_| PreviewError::Unsupported("too wide".into()))?,
        u32::try_from(slice.height).map_err(|_| PreviewError::Unsupported("too high".into()))?,
    );
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| PreviewError::Corrupt(format!("PNG: {e}")))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| PreviewError::Corrupt(format!("PNG: {e}")))?;
    writer
        .finish()
        .map_err(|e| PreviewError::Corrupt(format!("PNG: {e}")))?;
    Ok(out)
}

/// A NIfTI-1 volume of int16 voxels, `value(x, y, z)` each (test data, samples).
pub fn int16_nifti(dims: [i16; 3], value: impl Fn(usize, usize, usize) -> i16) -> Vec<u8> {
    let mut header = vec![0u8; 352];
    header[..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3i16, dims[0], dims[1], dims[2], 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    header[70..72].copy_from_slice(&4i16.to_le_bytes());
    header[72..74].copy_from_slice(&16i16.to_le_bytes());
    header[108..112].copy_from_slice(&352f32.to_le_bytes());
    header[344..348].copy_from_slice(b"n+1\0");
    let [nx, ny, nz] = dims.map(|d| usize::try_from(d).unwrap_or(0));
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                header.extend_from_slice(&value(x, y, z).to_le_bytes());
            }
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("png");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn the_middle_slice_of_a_nifti_volume_top_row_first() {
        // slice z = 2 of 5 is bright where x > y; other slices are dark
        let volume = int16_nifti([4, 3, 5], |x, y, z| if z == 2 && x > y { 1000 } else { 0 });
        let (w, h, pixels) = decode(&png(&volume).expect("preview"));
        assert_eq!((w, h), (4, 3));
        // the last row of the picture is y = 0: bright for x = 1, 2, 3
        assert_eq!(&pixels[8..12], &[0, 255, 255, 255]);
        // the top row is y = 2: bright for x = 3 only
        assert_eq!(&pixels[0..4], &[0, 0, 0, 255]);
        // gzipped the same
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&volume).expect("gzip");
        let (_, _, again) = decode(&png(&gz.finish().expect("gzip")).expect("preview"));
        assert_eq!(again, pixels);
    }

    #[test]
    fn a_dicom_frame_is_drawn() {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_dictionary_std::uids;
        use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
        let pixels: Vec<u8> = (0..16u8).map(|i| i * 16).collect();
        let object = InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(4u16)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(4u16)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ),
            DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels)),
        ]);
        let file = object
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid("1.2.3.4"),
            )
            .expect("meta");
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).expect("write");
        let (w, h, out) = decode(&png(&bytes).expect("preview"));
        assert_eq!((w, h), (4, 4));
        assert!(
            out.windows(2).all(|p| p[0] <= p[1]),
            "a ramp stays a ramp: {out:?}"
        );
        assert_eq!((out[0], out[15]), (0, 255));
    }

    #[test]
    fn other_files_are_refused_without_panicking() {
        assert_eq!(png(b"hello"), Err(PreviewError::NotAnImage));
        // a gzip bomb stops at the limit, however far it would inflate
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &vec![0u8; 1 << 20]).expect("gzip");
        let bomb = gz.finish().expect("gzip");
        assert_eq!(
            png_within(&bomb, 64 * 1024),
            Err(PreviewError::TooLarge(64 * 1024))
        );
        let mut truncated = int16_nifti([64, 64, 9], |_, _, _| 7);
        truncated.truncate(1000);
        assert!(matches!(png(&truncated), Err(PreviewError::Corrupt(_))));
        assert!(matches!(
            png(&[0x1f, 0x8b, 1, 2]),
            Err(PreviewError::Corrupt(_))
        ));
    }
}
