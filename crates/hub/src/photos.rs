//! Photos taken at the bench: decoded, downscaled and re-encoded (which drops EXIF and any
//! other metadata: location, camera serials), then stored once under the SHA-256 of the
//! stored bytes. Inspections and exceptions refer to photos by that hash.
//!
//! A photo is on disk (written to a temporary file, synced, renamed, directory synced) before
//! its hash is returned, so an inspection can never point at a photo that a power cut lost.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::{HubError, Result};

/// The largest file the bench accepts; phones make 5–12 MB.
pub const MAX_PHOTO_BYTES: usize = 25 * 1024 * 1024;
/// Stored photos fit this box: enough to see a stain, small enough to sync.
pub const MAX_SIDE: u32 = 1600;

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, TS)]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the stored JPEG.
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u32,
}

pub struct PhotoStore {
    dir: PathBuf,
}

impl PhotoStore {
    pub fn new(dir: PathBuf) -> PhotoStore {
        PhotoStore { dir }
    }

    fn path_of(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.jpg"))
    }

    /// Decodes `bytes` (JPEG or PNG), downscales to [`MAX_SIDE`], re-encodes as JPEG and
    /// stores it. The same picture stored twice is one file.
    pub fn store(&self, bytes: &[u8]) -> Result<PhotoRef> {
        if bytes.is_empty() {
            return Err(HubError::Invalid("the photo is empty".into()));
        }
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(HubError::Invalid(format!(
                "the photo is {} MB; the limit is {} MB",
                bytes.len() / (1024 * 1024),
                MAX_PHOTO_BYTES / (1024 * 1024)
            )));
        }
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| HubError::Invalid(format!("cannot read the photo: {e}")))?;
        if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
            return Err(HubError::Invalid(
                "the photo must be a JPEG or PNG file".into(),
            ));
        }
        // A small file can claim a huge canvas (a decompression bomb): cap what decoding may
        // allocate.
        let mut limits = Limits::default();
        limits.max_image_width = Some(12_000);
        limits.max_image_height = Some(12_000);
        limits.max_alloc = Some(512 * 1024 * 1024);
        reader.limits(limits);
        let image = reader
            .decode()
            .map_err(|e| HubError::Invalid(format!("cannot decode the photo: {e}")))?;
        let image = if image.width() > MAX_SIDE || image.height() > MAX_SIDE {
            image.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle)
        } else {
            image
        };
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        let mut encoded = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 85)
            .encode_image(&rgb)
            .map_err(|e| HubError::Failed(format!("cannot encode the photo: {e}")))?;
        let hash = hex(&Sha256::digest(&encoded));
        let path = self.path_of(&hash);
        if !path.exists() {
            write_durably(&self.dir, &path, &encoded).map_err(|e| {
                HubError::Corrupt(format!(
                    "cannot store the photo in {}: {e}",
                    self.dir.display()
                ))
            })?;
        }
        Ok(PhotoRef {
            hash,
            width: rgb.width(),
            height: rgb.height(),
            bytes: encoded.len() as u32,
        })
    }

    /// Refuses a hash that is not a stored photo (a typo, or a photo from another hub).
    pub fn check_stored(&self, hash: &str) -> Result<()> {
        let well_formed = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed || !self.path_of(hash).is_file() {
            return Err(HubError::NotFound(format!(
                "photo {hash} is not stored at this hub"
            )));
        }
        Ok(())
    }

    /// The stored photo as a `data:` URL for the window (the CSP allows `data:` images).
    pub fn data_url(&self, hash: &str) -> Result<String> {
        self.check_stored(hash)?;
        let bytes = std::fs::read(self.path_of(hash))
            .map_err(|e| HubError::Corrupt(format!("photo {hash}: {e}")))?;
        Ok(format!("data:image/jpeg;base64,{}", base64(&bytes)))
    }
}

fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::now_v7()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_big_photo_is_downscaled_stored_once_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let photos = PhotoStore::new(dir.path().join("photos"));
        let bytes = png(3000, 2000);
        let first = photos.store(&bytes).unwrap();
        assert_eq!((first.width, first.height), (1600, 1067));
        let again = photos.store(&bytes).unwrap();
        assert_eq!(first, again, "the same picture is the same stored photo");
        assert_eq!(
            std::fs::read_dir(dir.path().join("photos"))
                .unwrap()
                .count(),
            1
        );
        photos.check_stored(&first.hash).unwrap();
        let stored = std::fs::read(photos.path_of(&first.hash)).unwrap();
        assert_eq!(hex(&Sha256::digest(&stored)), first.hash);
        assert!(photos
            .data_url(&first.hash)
            .unwrap()
            .starts_with("data:image/jpeg;base64,/9j/"));
    }

    #[test]
    fn metadata_is_not_kept() {
        // A JPEG with an EXIF segment carrying a fake GPS tag name.
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&DynamicImage::ImageRgb8(image::RgbImage::new(40, 30)))
            .unwrap();
        let exif = b"Exif\0\0GPSLatitude-36.8485";
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        segment.extend_from_slice(exif);
        jpeg.splice(2..2, segment);
        let dir = tempfile::tempdir().unwrap();
        let photos = PhotoStore::new(dir.path().to_path_buf());
        let stored = photos.store(&jpeg).unwrap();
        let bytes = std::fs::read(photos.path_of(&stored.hash)).unwrap();
        assert!(!bytes.windows(11).any(|w| w == b"GPSLatitude"));
    }

    #[test]
    fn bad_photos_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let photos = PhotoStore::new(dir.path().to_path_buf());
        let err = photos.store(b"not an image").unwrap_err().to_string();
        assert!(
            err.contains("JPEG or PNG") || err.contains("cannot"),
            "{err}"
        );
        let err = photos
            .store(&vec![0u8; MAX_PHOTO_BYTES + 1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("limit"), "{err}");
        let err = photos.store(&[]).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        assert!(photos.check_stored("abc").is_err());
        assert!(photos.check_stored(&"0".repeat(64)).is_err());
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
