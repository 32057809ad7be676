// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// zstd behind the Compression seam, with libzstd's streaming API: each call
// feeds its whole input through a fixed-size output buffer, so memory stays
// bounded by zstd's window and the caller's pieces.

#include "sluice/zstd.h"

#include <zstd.h>

#include <string>

namespace sluice::zstd {
namespace {

Status ZstdError(std::string_view what, size_t code) {
  return InternalError("zstd: " + std::string(what) + ": " + ZSTD_getErrorName(code));
}

class ZstdCompressor final : public Compressor {
 public:
  explicit ZstdCompressor(ZSTD_CCtx* ctx) : ctx_(ctx) {}
  ~ZstdCompressor() override { ZSTD_freeCCtx(ctx_); }
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;

  Status Compress(std::string_view input, std::string* out) override {
    if (finished_) return FailedPreconditionError("zstd: Compress after Finish");
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    while (in.pos < in.size) {
      SLUICE_RETURN_IF_ERROR(Step(&in, ZSTD_e_continue, out).status());
    }
    return Status::Ok();
  }

  Status Finish(std::string* out) override {
    if (finished_) return FailedPreconditionError("zstd: Finish called twice");
    finished_ = true;
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (true) {
      SLUICE_ASSIGN_OR_RETURN(size_t remaining, Step(&in, ZSTD_e_end, out));
      if (remaining == 0) return Status::Ok();
    }
  }

 private:
  Result<size_t> Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode, std::string* out) {
    char buf[16384];
    ZSTD_outBuffer o{buf, sizeof(buf), 0};
    const size_t r = ZSTD_compressStream2(ctx_, &o, in, mode);
    if (ZSTD_isError(r)) return ZstdError("compress", r);
    out->append(buf, o.pos);
    return r;
  }

  ZSTD_CCtx* ctx_;
  bool finished_ = false;
};

class ZstdDecompressor final : public Decompressor {
 public:
  explicit ZstdDecompressor(ZSTD_DCtx* ctx) : ctx_(ctx) {}
  ~ZstdDecompressor() override { ZSTD_freeDCtx(ctx_); }
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;

  Status Decompress(std::string_view input, std::string* out) override {
    if (!error_.ok()) return error_;
    if (input.empty()) return Status::Ok();
    started_ = true;
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    char buf[16384];
    // Until all input is consumed and the output buffer was not filled (a full
    // buffer may mean zstd holds more decoded bytes).
    while (true) {
      ZSTD_outBuffer o{buf, sizeof(buf), 0};
      const size_t r = ZSTD_decompressStream(ctx_, &o, &in);
      if (ZSTD_isError(r)) {
        error_ = DataLossError(std::string("zstd: corrupt compressed data: ") + ZSTD_getErrorName(r));
        return error_;
      }
      out->append(buf, o.pos);
      frame_complete_ = r == 0;
      if (in.pos == in.size && o.pos < o.size) return Status::Ok();
    }
  }

  Status Finish() override {
    if (!error_.ok()) return error_;
    if (!started_ || !frame_complete_) {
      return DataLossError("zstd: compressed data ends in the middle of a frame (truncated)");
    }
    return Status::Ok();
  }

 private:
  ZSTD_DCtx* ctx_;
  Status error_;
  bool started_ = false;
  bool frame_complete_ = false;
};

class ZstdCompression final : public Compression {
 public:
  explicit ZstdCompression(const ZstdOptions& options) : options_(options) {}

  std::string_view name() const override { return kName; }

  Result<std::unique_ptr<Compressor>> NewCompressor() const override {
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    if (ctx == nullptr) return InternalError("zstd: cannot allocate a compression context");
    auto c = std::make_unique<ZstdCompressor>(ctx);
    size_t r = ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, options_.level);
    if (ZSTD_isError(r)) return ZstdError("set level", r);
    r = ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, options_.checksum ? 1 : 0);
    if (ZSTD_isError(r)) return ZstdError("set checksum", r);
    return std::unique_ptr<Compressor>(std::move(c));
  }

  Result<std::unique_ptr<Decompressor>> NewDecompressor() const override {
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    if (ctx == nullptr) return InternalError("zstd: cannot allocate a decompression context");
    // A hostile frame may ask for a window of up to 2 GiB; what sluice writes
    // never needs more than 128 MiB (level 19 uses 8 MiB).
    ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, 27);
    return std::unique_ptr<Decompressor>(std::make_unique<ZstdDecompressor>(ctx));
  }

 private:
  ZstdOptions options_;
};

}  // namespace

Result<std::shared_ptr<const Compression>> Create(const ZstdOptions& options) {
  if (options.level < ZSTD_minCLevel() || options.level > ZSTD_maxCLevel()) {
    return InvalidArgumentError("zstd: level " + std::to_string(options.level) + " is outside [" +
                                std::to_string(ZSTD_minCLevel()) + ", " + std::to_string(ZSTD_maxCLevel()) + "]");
  }
  return std::shared_ptr<const Compression>(std::make_shared<ZstdCompression>(options));
}

}  // namespace sluice::zstd
