// emu/hv/pio.cc: the in-kernel port devices: the 0xE9 debug console and a 16550A UART.
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

// 16550 register offsets and bits (PC16550D data sheet, UNCONFIRMED: recalled; the same values
// are in Linux include/uapi/linux/serial_reg.h).
constexpr unsigned kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRdi = 0x01, kIerThri = 0x02;
constexpr uint8_t kIirNoInt = 0x01, kIirThri = 0x02, kIirRdi = 0x04, kIirFifoEnabled = 0xC0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

}  // namespace

uint8_t Uart16550::iir() {
  uint8_t v = kIirNoInt;
  if ((ier_ & kIerRdi) != 0 && !rx_.empty()) {
    v = kIirRdi;
  } else if ((ier_ & kIerThri) != 0 && thr_ipending_) {
    v = kIirThri;
    thr_ipending_ = false;  // reading IIR with THRI the highest source clears it (data sheet)
  }
  if ((fcr_ & kFcrEnable) != 0) v |= kIirFifoEnabled;
  return v;
}

uint8_t Uart16550::read(uint16_t port) {
  const unsigned reg = static_cast<unsigned>(port - base_) & 7;
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kRbrThr: {
      if (dlab) return dll_;
      if (rx_.empty()) return 0;
      const auto c = static_cast<uint8_t>(rx_.front());
      rx_.erase(0, 1);
      return c;
    }
    case kIer:
      return dlab ? dlm_ : ier_;
    case kIirFcr:
      return iir();
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:  // transmission is instant: THR empty and transmitter empty, always
      return static_cast<uint8_t>(kLsrThre | kLsrTemt | (rx_.empty() ? 0 : kLsrDr));
    case kMsr:
      if ((mcr_ & kMcrLoop) != 0) {  // loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
        return static_cast<uint8_t>(
            ((mcr_ & kMcrDtr) ? kMsrDsr : 0) | ((mcr_ & kMcrRts) ? kMsrCts : 0) |
            ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0));
      }
      return kMsrDcd | kMsrDsr | kMsrCts;  // a connected line, as QEMU reports [3P]
    default:
      return scr_;
  }
}

void Uart16550::write(uint16_t port, uint8_t value) {
  const unsigned reg = static_cast<unsigned>(port - base_) & 7;
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kRbrThr:
      if (dlab) {
        dll_ = value;
      } else {
        if ((mcr_ & kMcrLoop) != 0) {
          rx_.push_back(static_cast<char>(value));
        } else {
          output_.push_back(static_cast<char>(value));
        }
        thr_ipending_ = true;  // the byte left at once: THR empty again
      }
      return;
    case kIer:
      if (dlab) {
        dlm_ = value;
      } else {
        if ((value & kIerThri) != 0 && (ier_ & kIerThri) == 0) thr_ipending_ = true;
        ier_ = value & 0x0F;
      }
      return;
    case kIirFcr:
      fcr_ = value & (kFcrEnable | 0xC0);
      if ((value & kFcrClearRx) != 0) rx_.clear();
      return;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      mcr_ = value & 0x1F;
      return;
    case kLsr:
    case kMsr:
      return;  // read-only here
    default:
      scr_ = value;
      return;
  }
}

bool PioDevices::handle(uint16_t port, unsigned size, bool is_in, uint32_t& value) {
  (void)size;
  if (debug_console_enabled && port == debug_console.port) {
    if (is_in) {
      value = debug_console.port & 0xFF;
    } else {
      debug_console.output.push_back(static_cast<char>(value & 0xFF));
    }
    return true;
  }
  if (uart_enabled && com1.covers(port)) {
    if (is_in) {
      value = com1.read(port);
    } else {
      com1.write(port, static_cast<uint8_t>(value));
    }
    return true;
  }
  return false;
}

}  // namespace snpemu::hv
