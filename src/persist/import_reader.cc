// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The export stream reader. It holds at most one source chunk, one
// decompressed piece and the record being read, whatever the stream's size.
// docs/export_format.md is the specification.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "persist/export_format.h"
#include "sluice/state_codec.h"
#include "sluice/state_export.h"
#include "util/crc32c.h"
#include "util/json.h"

namespace sluice {
namespace {

constexpr size_t kChunk = 64 * 1024;       // bytes read from the source at a time
constexpr size_t kPiece = 4 * 1024;        // compressed bytes decompressed at a time
constexpr size_t kMaxHeaderBytes = 64 * 1024;

std::string Printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes.substr(0, 8)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

class ExportReaderImpl final : public ExportReader {
 public:
  ExportReaderImpl(SequentialFile* source, ExportReadOptions options)
      : source_(source), options_(std::move(options)) {
    if (options_.now_ns == 0) options_.now_ns = Clock::Real().NowNanos();
  }

  Status Open() {
    // The header is plain: read until it is complete.
    SLUICE_RETURN_IF_ERROR(ReadRaw(4));
    if (pending_.empty()) return InvalidArgumentError("not a sluice export: the stream is empty");
    std::string json;
    size_t header_end = 0;
    if (pending_[0] == '{') {
      size_t nl;
      while ((nl = pending_.find('\n')) == std::string::npos) {
        if (pending_.size() > kMaxHeaderBytes) {
          return InvalidArgumentError("not a sluice export: no header line within the first " +
                                      std::to_string(kMaxHeaderBytes) + " bytes");
        }
        const size_t before = pending_.size();
        SLUICE_RETURN_IF_ERROR(ReadRaw(before + 1));
        if (pending_.size() == before) return DataLossError("export stream truncated inside its header line");
      }
      json = pending_.substr(0, nl);
      header_end = nl + 1;
    } else if (pending_.compare(0, std::min<size_t>(4, pending_.size()), kExportBinaryMagic.substr(0, std::min<size_t>(4, pending_.size()))) == 0) {
      SLUICE_RETURN_IF_ERROR(ReadRaw(4 + 10 + 10));
      if (pending_.size() < 4) return DataLossError("export stream truncated inside its magic");
      std::string_view rest = std::string_view(pending_).substr(4);
      const internal::VarintRead version = internal::DecodeVarint64(rest);
      if (version.truncated()) return DataLossError("export stream truncated inside its header");
      if (version.malformed()) return DataLossError("binary export: malformed format version");
      if (version.value != static_cast<uint64_t>(kExportFormatVersion)) {
        return InvalidArgumentError("unsupported export format version " + std::to_string(version.value) +
                                    "; this build reads " + std::to_string(kExportFormatVersion));
      }
      rest.remove_prefix(static_cast<size_t>(version.length));
      const internal::VarintRead length = internal::DecodeVarint64(rest);
      if (length.truncated()) return DataLossError("export stream truncated inside its header");
      if (length.malformed() || length.value > kMaxHeaderBytes) {
        return DataLossError("binary export: malformed header length");
      }
      const size_t start = 4 + static_cast<size_t>(version.length) + static_cast<size_t>(length.length);
      header_end = start + static_cast<size_t>(length.value);
      SLUICE_RETURN_IF_ERROR(ReadRaw(header_end));
      if (pending_.size() < header_end) return DataLossError("export stream truncated inside its header");
      json = pending_.substr(start, static_cast<size_t>(length.value));
    } else {
      return InvalidArgumentError("not a sluice export: it starts with \"" + Printable(pending_) +
                                  "\"; expected a JSON header line or the magic \"" +
                                  std::string(kExportBinaryMagic) + "\"");
    }
    SLUICE_ASSIGN_OR_RETURN(header_, internal::ExportHeaderFromJson(json));
    const ExportEncoding framed = pending_[0] == '{' ? ExportEncoding::kNdjson : ExportEncoding::kBinary;
    if (header_.encoding != framed) {
      return InvalidArgumentError("export header: encoding \"" + std::string(ExportEncodingName(header_.encoding)) +
                                  "\" does not match the stream's framing (" +
                                  std::string(ExportEncodingName(framed)) + ")");
    }
    if (header_.compression != "none") {
      const Compression* c = FindCompression(options_.compressions, header_.compression);
      if (c == nullptr) {
        std::string have;
        for (const auto& a : options_.compressions) {
          if (a == nullptr) continue;
          have += (have.empty() ? "" : ", ") + std::string(a->name());
        }
        return NotSupportedError("export stream is compressed with \"" + header_.compression +
                                 "\", which this reader was not given (it has: " +
                                 (have.empty() ? std::string("none") : have) +
                                 "); pass that Compression in the options (e.g. sluice::zstd)");
      }
      SLUICE_ASSIGN_OR_RETURN(decompressor_, c->NewDecompressor());
    }
    crc_ = internal::crc32c::Extend(0, pending_.data(), header_end);
    pending_.erase(0, header_end);
    return Status::Ok();
  }

  const ExportHeader& header() const override { return header_; }
  uint32_t checksum() const override { return crc_; }

  Result<bool> Next(ExportEntry* entry) override {
    if (!status_.ok()) return status_;
    if (done_) return false;
    Result<bool> r = header_.encoding == ExportEncoding::kNdjson ? NextLine(entry) : NextFrame(entry);
    if (!r.ok()) status_ = r.status();
    return r;
  }

 private:
  // Appends raw source bytes to pending_ until it holds `want` bytes or the
  // source ends.
  Status ReadRaw(size_t want) {
    std::string chunk;
    while (pending_.size() < want && !source_eof_) {
      SLUICE_RETURN_IF_ERROR(source_->Read(kChunk, &chunk));
      if (chunk.empty()) {
        source_eof_ = true;
      } else {
        pending_ += chunk;
      }
    }
    return Status::Ok();
  }

  // Adds more body bytes to buf_. Returns false at the end of the body.
  Result<bool> Fill() {
    // Drop what was consumed, so the buffer holds one record plus one piece.
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    while (true) {
      if (pending_.empty() && !source_eof_) {
        SLUICE_RETURN_IF_ERROR(source_->Read(kChunk, &pending_));
        if (pending_.empty()) source_eof_ = true;
      }
      if (pending_.empty()) {
        if (decompressor_ != nullptr && !decompressor_finished_) {
          decompressor_finished_ = true;
          Status s = decompressor_->Finish();
          if (!s.ok()) return DataLossError("export stream truncated: " + std::string(s.message()));
        }
        return false;
      }
      if (decompressor_ == nullptr) {
        buf_ += pending_;
        pending_.clear();
        return true;
      }
      const size_t n = std::min(kPiece, pending_.size());
      const size_t before = buf_.size();
      Status s = decompressor_->Decompress(std::string_view(pending_).substr(0, n), &buf_);
      pending_.erase(0, n);
      if (!s.ok()) return Status(s.code(), "export stream: " + std::string(s.message()));
      if (buf_.size() > before) return true;
    }
  }

  Status Truncated(std::string_view where) const {
    return DataLossError("export stream truncated " + std::string(where) + " (after " + std::to_string(count_) +
                         " records); the file is incomplete");
  }

  // After the trailer: nothing may follow.
  Status ExpectEnd() {
    while (true) {
      if (pos_ < buf_.size()) {
        return DataLossError("export stream: " + std::to_string(buf_.size() - pos_) +
                             " unexpected bytes after the trailer");
      }
      SLUICE_ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) return Status::Ok();
    }
  }

  Status CheckTrailer(uint64_t count, uint32_t crc) {
    if (count != count_) {
      return DataLossError("export stream: the trailer counts " + std::to_string(count) + " records but " +
                           std::to_string(count_) + " were read");
    }
    if (crc != crc_) {
      return DataLossError("export stream: checksum mismatch (trailer " + std::to_string(crc) + ", computed " +
                           std::to_string(crc_) + "); the file is corrupt");
    }
    if (header_.record_count.has_value() && *header_.record_count != count_) {
      return DataLossError("export stream: the header promised " + std::to_string(*header_.record_count) +
                           " records but " + std::to_string(count_) + " were read");
    }
    SLUICE_RETURN_IF_ERROR(ExpectEnd());
    done_ = true;
    return Status::Ok();
  }

  Result<bool> NextLine(ExportEntry* entry) {
    size_t nl;
    bool more = true;
    while ((nl = buf_.find('\n', pos_)) == std::string::npos) {
      if (buf_.size() - pos_ > options_.max_record_bytes) {
        return DataLossError("export stream: a line longer than " + std::to_string(options_.max_record_bytes) +
                             " bytes (after " + std::to_string(count_) + " records)");
      }
      if (!more) break;
      SLUICE_ASSIGN_OR_RETURN(more, Fill());
    }
    const bool has_newline = nl != std::string::npos;
    if (!has_newline && pos_ == buf_.size()) return Truncated("before its trailer");
    const size_t end = has_newline ? nl : buf_.size();
    const std::string_view line = std::string_view(buf_).substr(pos_, end - pos_);
    if (line.find(internal::kExportTrailerFormatName) != std::string_view::npos &&
        line.find("\"sluice.record\"") == std::string_view::npos) {
      Result<internal::Json> doc = internal::ParseJson(line);
      if (!doc.ok()) return DataLossError("export stream: malformed trailer: " + std::string(doc.status().message()));
      SLUICE_ASSIGN_OR_RETURN(internal::JsonObjectReader r, internal::JsonObjectReader::Create(*doc, "export trailer"));
      Result<std::string> format = r.GetString("format");
      Result<int64_t> count = r.GetInt("count");
      Result<int64_t> crc = r.GetInt("crc32c");
      if (!format.ok() || *format != internal::kExportTrailerFormatName || !count.ok() || *count < 0 || !crc.ok() ||
          *crc < 0 || *crc > UINT32_MAX || !r.CheckNoUnknownFields().ok()) {
        return DataLossError("export stream: malformed trailer line");
      }
      // The writer ends every line, the trailer's too: without it the stream was cut.
      if (!has_newline) return Truncated("inside its trailer line");
      pos_ = end + 1;
      SLUICE_RETURN_IF_ERROR(CheckTrailer(static_cast<uint64_t>(*count), static_cast<uint32_t>(*crc)));
      return false;
    }
    if (!has_newline) return Truncated("inside a record line");
    crc_ = internal::crc32c::Extend(crc_, buf_.data() + pos_, end + 1 - pos_);
    entry->index = count_++;
    Result<Record> record = DecodeRecordJson(line, options_.now_ns, options_.max_future);
    pos_ = end + 1;
    SetEntry(entry, std::move(record));
    return true;
  }

  // Makes sure buf_ holds `n` bytes from pos_; false if the body ends first.
  Result<bool> Have(size_t n) {
    while (buf_.size() - pos_ < n) {
      SLUICE_ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) return false;
    }
    return true;
  }

  Result<bool> NextFrame(ExportEntry* entry) {
    SLUICE_ASSIGN_OR_RETURN(bool have, Have(10));
    internal::VarintRead len = internal::DecodeVarint64(std::string_view(buf_).substr(pos_));
    if (len.truncated()) return Truncated(have ? "inside a record length" : "before its trailer");
    if (len.malformed()) {
      return DataLossError("export stream: malformed record length after " + std::to_string(count_) + " records");
    }
    if (len.value == 0) {
      // The trailer: the zero length, the count and the masked CRC. (Have()
      // may move the buffer's contents: positions are taken after it.)
      SLUICE_ASSIGN_OR_RETURN(have, Have(1 + 10 + 4));
      const size_t start = pos_ + 1;
      internal::VarintRead count = internal::DecodeVarint64(std::string_view(buf_).substr(start));
      if (!count.ok() || buf_.size() < start + static_cast<size_t>(count.length) + 4) {
        return count.malformed() ? DataLossError("export stream: malformed trailer") : Truncated("inside its trailer");
      }
      const size_t crc_at = start + static_cast<size_t>(count.length);
      const uint32_t crc = internal::crc32c::Unmask(internal::DecodeFixed32(buf_.data() + crc_at));
      pos_ = crc_at + 4;
      SLUICE_RETURN_IF_ERROR(CheckTrailer(count.value, crc));
      return false;
    }
    if (len.value > options_.max_record_bytes) {
      return DataLossError("export stream: a record length of " + std::to_string(len.value) +
                           " bytes exceeds the maximum of " + std::to_string(options_.max_record_bytes) +
                           " (after " + std::to_string(count_) + " records); the file is corrupt");
    }
    const size_t total = static_cast<size_t>(len.length) + static_cast<size_t>(len.value);
    SLUICE_ASSIGN_OR_RETURN(have, Have(total));
    if (!have) return Truncated("inside a record");
    crc_ = internal::crc32c::Extend(crc_, buf_.data() + pos_, total);
    const std::string_view bytes = std::string_view(buf_).substr(pos_ + static_cast<size_t>(len.length), len.value);
    entry->index = count_++;
    Result<Record> record = DecodeRecordBinary(bytes, options_.now_ns, options_.max_future);
    pos_ += total;
    SetEntry(entry, std::move(record));
    return true;
  }

  static void SetEntry(ExportEntry* entry, Result<Record> record) {
    if (record.ok()) {
      entry->record = std::move(*record);
      entry->invalid = Status::Ok();
    } else {
      entry->record.reset();
      entry->invalid = record.status();
    }
  }

  SequentialFile* source_;
  ExportReadOptions options_;
  ExportHeader header_;
  std::unique_ptr<Decompressor> decompressor_;
  bool decompressor_finished_ = false;
  std::string pending_;  // raw source bytes not yet turned into body bytes
  bool source_eof_ = false;
  std::string buf_;      // body bytes (decompressed)
  size_t pos_ = 0;       // next unread byte of buf_
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
  bool done_ = false;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<ExportReader>> ExportReader::Open(SequentialFile* source, const ExportReadOptions& options) {
  if (source == nullptr) return InvalidArgumentError("import: no source");
  auto reader = std::make_unique<ExportReaderImpl>(source, options);
  SLUICE_RETURN_IF_ERROR(reader->Open());
  return std::unique_ptr<ExportReader>(std::move(reader));
}

}  // namespace sluice
