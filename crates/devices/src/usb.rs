//! The thin USB layer: the transport traits the protocol code is written against (HID POS
//! interrupt IN, printer-class bulk OUT/IN), their `rusb` implementations, and the error they
//! share. USB cannot be emulated on the build machines (no uhid, vhci or gadget modules), so
//! the rusb code here is kept minimal and is NOT exercised by the tests; the protocol code
//! above it is, through fakes and byte fixtures.

use std::time::Duration;

/// Why a USB transfer failed, reduced to what the callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsbError {
    #[error("timed out")]
    Timeout,
    /// Unplugged (or never found): reconnect later.
    #[error("device not present")]
    Disconnected,
    #[error("access denied (udev rule missing?)")]
    Access,
    #[error("usb: {0}")]
    Other(String),
}

impl From<rusb::Error> for UsbError {
    fn from(e: rusb::Error) -> Self {
        match e {
            rusb::Error::Timeout => UsbError::Timeout,
            rusb::Error::NoDevice | rusb::Error::NotFound => UsbError::Disconnected,
            rusb::Error::Access => UsbError::Access,
            other => UsbError::Other(other.to_string()),
        }
    }
}

/// A source of HID input reports (one report per call).
pub trait HidReportSource {
    /// Reads one input report into `buf`, returning its length.
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError>;
}

/// A USB printer-class data pipe.
pub trait BulkPipe {
    /// Writes some of `data` (may be partial), returning how many bytes went out.
    fn write_bulk(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError>;
    /// Reads from the bulk IN endpoint (bidirectional printers answer `~HS` there).
    fn read_bulk(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError>;
    /// The endpoint's max packet size, to size write chunks.
    fn max_packet_size(&self) -> usize {
        64
    }
}

/// USB interface class codes we care about.
pub const CLASS_HID: u8 = 0x03;
pub const CLASS_PRINTER: u8 = 0x07;

/// An opened and claimed interface with its endpoints (rusb; not exercised by tests).
pub struct RusbInterface {
    handle: rusb::DeviceHandle<rusb::GlobalContext>,
    iface: u8,
    ep_in: Option<(u8, rusb::TransferType)>,
    ep_out: Option<(u8, u16)>,
}

impl RusbInterface {
    /// Opens the first device with `vid:pid` and claims its first interface of `class`
    /// (detaching the kernel driver, e.g. usbhid or usblp, while we hold it).
    pub fn open(vid: u16, pid: u16, class: u8) -> Result<RusbInterface, UsbError> {
        let devices = rusb::devices()?;
        for dev in devices.iter() {
            let desc = dev.device_descriptor()?;
            if desc.vendor_id() != vid || desc.product_id() != pid {
                continue;
            }
            let config = dev.active_config_descriptor()?;
            for interface in config.interfaces() {
                for alt in interface.descriptors() {
                    if alt.class_code() != class {
                        continue;
                    }
                    let mut ep_in = None;
                    let mut ep_out = None;
                    for ep in alt.endpoint_descriptors() {
                        match ep.direction() {
                            rusb::Direction::In if ep_in.is_none() => {
                                ep_in = Some((ep.address(), ep.transfer_type()))
                            }
                            rusb::Direction::Out if ep_out.is_none() => {
                                ep_out = Some((ep.address(), ep.max_packet_size()))
                            }
                            _ => {}
                        }
                    }
                    let handle = dev.open()?;
                    // Not supported on every platform; claiming then fails with Busy and says so.
                    let _ = handle.set_auto_detach_kernel_driver(true);
                    handle.claim_interface(alt.interface_number())?;
                    return Ok(RusbInterface {
                        handle,
                        iface: alt.interface_number(),
                        ep_in,
                        ep_out,
                    });
                }
            }
        }
        Err(UsbError::Disconnected)
    }
}

impl Drop for RusbInterface {
    fn drop(&mut self) {
        let _ = self.handle.release_interface(self.iface);
    }
}

impl HidReportSource for RusbInterface {
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        match self.ep_in {
            Some((ep, rusb::TransferType::Interrupt)) => {
                Ok(self.handle.read_interrupt(ep, buf, timeout)?)
            }
            Some((ep, _)) => Ok(self.handle.read_bulk(ep, buf, timeout)?),
            None => Err(UsbError::Other("no IN endpoint".into())),
        }
    }
}

impl BulkPipe for RusbInterface {
    fn write_bulk(&mut self, data: &[u8], timeout: Duration) -> Result<usize, UsbError> {
        let (ep, _) = self
            .ep_out
            .ok_or_else(|| UsbError::Other("no bulk OUT endpoint".into()))?;
        Ok(self.handle.write_bulk(ep, data, timeout)?)
    }

    fn read_bulk(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, UsbError> {
        let (ep, _) = self
            .ep_in
            .ok_or_else(|| UsbError::Other("unidirectional printer: no bulk IN".into()))?;
        Ok(self.handle.read_bulk(ep, buf, timeout)?)
    }

    fn max_packet_size(&self) -> usize {
        self.ep_out.map_or(64, |(_, s)| usize::from(s.max(8)))
    }
}

/// The usage pages a HID report descriptor declares (short items only; long items skipped).
/// A HID POS scanner declares 0x8C.
pub fn hid_usage_pages(desc: &[u8]) -> Vec<u16> {
    let mut pages = Vec::new();
    let mut i = 0;
    while i < desc.len() {
        let prefix = desc[i];
        if prefix == 0xFE {
            // Long item: size in the next byte, then tag, then data.
            let size = desc.get(i + 1).copied().unwrap_or(0) as usize;
            i += 3 + size;
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            s => s as usize,
        };
        // Global item (type 1), tag 0: Usage Page.
        if prefix & 0xFC == 0x04 && size > 0 && i + size < desc.len() {
            let mut v: u32 = 0;
            for (k, b) in desc[i + 1..=i + size].iter().enumerate() {
                v |= u32::from(*b) << (8 * k);
            }
            let page = (v & 0xFFFF) as u16;
            if !pages.contains(&page) {
                pages.push(page);
            }
        }
        i += 1 + size;
    }
    pages
}

/// The HID POS usage page.
pub const USAGE_PAGE_POS: u16 = 0x8C;

/// Reads a device's HID report descriptor (GET_DESCRIPTOR, type 0x22) through a control
/// transfer; needs the device opened (permission). Not exercised by tests.
pub fn read_hid_report_descriptor(
    handle: &rusb::DeviceHandle<rusb::GlobalContext>,
    interface: u8,
) -> Result<Vec<u8>, UsbError> {
    let mut buf = vec![0u8; 1024];
    let n = handle.read_control(
        rusb::request_type(
            rusb::Direction::In,
            rusb::RequestType::Standard,
            rusb::Recipient::Interface,
        ),
        0x06,
        0x2200,
        u16::from(interface),
        &mut buf,
        Duration::from_millis(500),
    )?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_pages_of_a_pos_scanner_descriptor() {
        // Shape of a HID POS bar code scanner descriptor (usage page 0x8C as a 2-byte item,
        // a vendor page 0xFF45, a long item that must be skipped).
        let desc = [
            0x06, 0x8C, 0x00, // Usage Page (HID POS)
            0x09, 0x02, // Usage (Bar Code Scanner)
            0xA1, 0x01, // Collection (Application)
            0xFE, 0x02, 0x10, 0x05, 0x01, // long item with data 05 01 (not a usage page)
            0x06, 0x45, 0xFF, // Usage Page (vendor)
            0x85, 0x02, // Report ID 2
            0xC0,
        ];
        assert_eq!(hid_usage_pages(&desc), vec![0x8C, 0xFF45]);
        // A keyboard: generic desktop (1) and key codes (7); no POS page.
        let kbd = [0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0x05, 0x07, 0xC0];
        let pages = hid_usage_pages(&kbd);
        assert_eq!(pages, vec![0x01, 0x07]);
        assert!(!pages.contains(&USAGE_PAGE_POS));
    }

    #[test]
    fn truncated_descriptor_does_not_panic() {
        assert!(hid_usage_pages(&[0x06, 0x8C]).is_empty());
        assert!(hid_usage_pages(&[0xFE]).is_empty());
    }

    #[test]
    fn rusb_errors_map_to_actionable_kinds() {
        assert_eq!(
            UsbError::from(rusb::Error::NoDevice),
            UsbError::Disconnected
        );
        assert_eq!(UsbError::from(rusb::Error::Timeout), UsbError::Timeout);
        assert_eq!(UsbError::from(rusb::Error::Access), UsbError::Access);
    }
}
