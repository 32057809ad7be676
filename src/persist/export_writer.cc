// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The export stream writer, ExportStore, and the header and framing shared
// with the reader. docs/export_format.md is the specification.

#include <memory>
#include <string>
#include <utility>

#include "persist/export_format.h"
#include "sluice/state_codec.h"
#include "sluice/state_export.h"
#include "util/crc32c.h"
#include "util/json.h"

namespace sluice {

std::string_view ExportEncodingName(ExportEncoding encoding) {
  switch (encoding) {
    case ExportEncoding::kNdjson: return "ndjson";
    case ExportEncoding::kBinary: return "binary";
  }
  return "unknown";
}

std::string_view PolicyChangeStrategyName(PolicyChangeStrategy strategy) {
  switch (strategy) {
    case PolicyChangeStrategy::kReset: return "reset";
    case PolicyChangeStrategy::kProportional: return "proportional";
    case PolicyChangeStrategy::kAsIs: return "as_is";
  }
  return "unknown";
}

namespace internal {

std::string ExportHeaderToJson(const ExportHeader& header) {
  Json o = Json::MakeObject();
  o.Set("format", Json::String(std::string(kExportFormatName)));
  o.Set("version", Json::Int(header.format_version));
  o.Set("encoding", Json::String(std::string(ExportEncodingName(header.encoding))));
  o.Set("compression", Json::String(header.compression));
  o.Set("recordFormatVersion", Json::Int(kRecordFormatVersion));
  o.Set("sourceStore", Json::String(header.source_store));
  if (IsValidUtf8(header.prefix)) {
    o.Set("prefix", Json::String(header.prefix));
  } else {
    o.Set("prefixBase64", Json::String(Base64Encode(header.prefix)));
  }
  o.Set("createdAtNs", Json::Int(header.created_at_ns));
  if (header.record_count.has_value()) {
    // Counts above INT64_MAX cannot occur in practice; saturate rather than wrap.
    o.Set("recordCount", Json::Int(*header.record_count > static_cast<uint64_t>(INT64_MAX)
                                       ? INT64_MAX
                                       : static_cast<int64_t>(*header.record_count)));
  }
  return WriteJson(o);
}

Result<ExportHeader> ExportHeaderFromJson(std::string_view json) {
  Result<Json> doc = ParseJson(json);
  if (!doc.ok()) {
    return InvalidArgumentError("not a sluice export: the header is not JSON (" +
                                std::string(doc.status().message()) + ")");
  }
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(*doc, "export header"));
  Result<std::string> format = r.GetString("format");
  if (!format.ok() || *format != kExportFormatName) {
    return InvalidArgumentError("not a sluice export: the header's format is not \"" +
                                std::string(kExportFormatName) + "\"");
  }
  ExportHeader h;
  SLUICE_ASSIGN_OR_RETURN(h.format_version, r.GetInt("version"));
  if (h.format_version != kExportFormatVersion) {
    return InvalidArgumentError("unsupported export format version " + std::to_string(h.format_version) +
                                "; this build reads " + std::to_string(kExportFormatVersion));
  }
  SLUICE_ASSIGN_OR_RETURN(std::string encoding, r.GetString("encoding"));
  if (encoding == "ndjson") {
    h.encoding = ExportEncoding::kNdjson;
  } else if (encoding == "binary") {
    h.encoding = ExportEncoding::kBinary;
  } else {
    return r.FieldError("encoding", "expected \"ndjson\" or \"binary\", got \"" + encoding + "\"");
  }
  SLUICE_ASSIGN_OR_RETURN(h.compression, r.GetString("compression"));
  if (h.compression.empty()) return r.FieldError("compression", "empty; expected \"none\" or a name");
  SLUICE_ASSIGN_OR_RETURN(int64_t record_version, r.GetInt("recordFormatVersion"));
  if (record_version < kOldestRecordFormatVersion || record_version > kRecordFormatVersion) {
    return InvalidArgumentError("unsupported record format version " + std::to_string(record_version) +
                                " in the export header; this build reads versions " +
                                std::to_string(kOldestRecordFormatVersion) + " to " +
                                std::to_string(kRecordFormatVersion));
  }
  SLUICE_ASSIGN_OR_RETURN(h.source_store, r.GetString("sourceStore"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> prefix, r.GetOptionalString("prefix"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> prefix64, r.GetOptionalString("prefixBase64"));
  if (prefix.has_value() && prefix64.has_value()) {
    return InvalidArgumentError("export header: has both prefix and prefixBase64; expected one");
  }
  if (prefix.has_value()) {
    h.prefix = std::move(*prefix);
  } else if (prefix64.has_value()) {
    std::optional<std::string> decoded = Base64Decode(*prefix64);
    if (!decoded.has_value()) return r.FieldError("prefixBase64", "not valid base64");
    h.prefix = std::move(*decoded);
  } else {
    return r.FieldError("prefix", "required field is missing (or prefixBase64)");
  }
  SLUICE_ASSIGN_OR_RETURN(h.created_at_ns, r.GetInt("createdAtNs"));
  if (h.created_at_ns < 0) return r.FieldError("createdAtNs", std::to_string(h.created_at_ns) + " is negative");
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> count, r.GetOptionalInt("recordCount"));
  if (count.has_value()) {
    if (*count < 0) return r.FieldError("recordCount", std::to_string(*count) + " is negative");
    h.record_count = static_cast<uint64_t>(*count);
  }
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  return h;
}

std::string NdjsonTrailer(uint64_t count, uint32_t crc) {
  Json o = Json::MakeObject();
  o.Set("format", Json::String(std::string(kExportTrailerFormatName)));
  o.Set("count", Json::Int(static_cast<int64_t>(count)));
  o.Set("crc32c", Json::Int(crc));
  return WriteJson(o) + "\n";
}

}  // namespace internal

namespace {

class ExportWriterImpl final : public ExportWriter {
 public:
  ExportWriterImpl(WritableFile* sink, ExportHeader header, std::unique_ptr<Compressor> compressor)
      : sink_(sink), header_(std::move(header)), compressor_(std::move(compressor)) {}

  Status Start() {
    std::string head;
    const std::string json = internal::ExportHeaderToJson(header_);
    if (header_.encoding == ExportEncoding::kNdjson) {
      head = json + "\n";
    } else {
      head.append(kExportBinaryMagic);
      internal::PutVarint64(&head, static_cast<uint64_t>(kExportFormatVersion));
      internal::PutVarint64(&head, json.size());
      head.append(json);
    }
    // The header is never compressed: a reader must learn the compression from it.
    crc_ = internal::crc32c::Extend(crc_, head.data(), head.size());
    return Write(head);
  }

  Status Add(const Record& record) override {
    if (!status_.ok()) return status_;
    if (finished_) return FailedPreconditionError("export: Add after Finish");
    std::string piece;
    if (header_.encoding == ExportEncoding::kNdjson) {
      piece = EncodeRecordJson(record);
      piece.push_back('\n');
    } else {
      const std::string bytes = EncodeRecordBinary(record);
      internal::PutVarint64(&piece, bytes.size());
      piece.append(bytes);
    }
    crc_ = internal::crc32c::Extend(crc_, piece.data(), piece.size());
    ++count_;
    return Body(piece);
  }

  Result<ExportReport> Finish() override {
    if (!status_.ok()) return status_;
    if (finished_) return FailedPreconditionError("export: Finish called twice");
    finished_ = true;
    if (header_.record_count.has_value() && *header_.record_count != count_) {
      status_ = FailedPreconditionError("export: the header promised " + std::to_string(*header_.record_count) +
                                        " records but " + std::to_string(count_) + " were written");
      return status_;
    }
    std::string tail;
    if (header_.encoding == ExportEncoding::kNdjson) {
      tail = internal::NdjsonTrailer(count_, crc_);
    } else {
      internal::PutVarint64(&tail, 0);  // a zero length ends the records
      internal::PutVarint64(&tail, count_);
      internal::PutFixed32(&tail, internal::crc32c::Mask(crc_));
    }
    SLUICE_RETURN_IF_ERROR(Body(tail));
    if (compressor_ != nullptr) {
      std::string out;
      status_ = compressor_->Finish(&out);
      if (!status_.ok()) return status_;
      SLUICE_RETURN_IF_ERROR(Write(out));
    }
    return ExportReport{count_, bytes_};
  }

  const ExportHeader& header() const override { return header_; }

 private:
  Status Body(std::string_view piece) {
    if (compressor_ == nullptr) return Write(piece);
    std::string out;
    status_ = compressor_->Compress(piece, &out);
    if (!status_.ok()) return status_;
    return out.empty() ? Status::Ok() : Write(out);
  }

  Status Write(std::string_view data) {
    status_ = sink_->Append(data);
    if (status_.ok()) bytes_ += data.size();
    return status_;
  }

  WritableFile* sink_;
  ExportHeader header_;
  std::unique_ptr<Compressor> compressor_;
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
  uint64_t bytes_ = 0;
  bool finished_ = false;
  Status status_;
};

class StringWritableFile final : public WritableFile {
 public:
  explicit StringWritableFile(std::string* out) : out_(out) {}
  Status Append(std::string_view data) override {
    if (closed_) return FailedPreconditionError("string file: Append after Close");
    out_->append(data);
    size_ += data.size();
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Sync() override { return Status::Ok(); }
  Status Close() override {
    closed_ = true;
    return Status::Ok();
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string* out_;
  uint64_t size_ = 0;
  bool closed_ = false;
};

class StringSequentialFile final : public SequentialFile {
 public:
  explicit StringSequentialFile(std::string_view data) : data_(data) {}
  Status Read(size_t n, std::string* out) override {
    const size_t k = std::min(n, data_.size() - pos_);
    out->assign(data_.data() + pos_, k);
    pos_ += k;
    return Status::Ok();
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<ExportWriter>> ExportWriter::Create(WritableFile* sink, ExportHeader header,
                                                           const ExportOptions& options) {
  if (sink == nullptr) return InvalidArgumentError("export: no sink");
  if (options.encoding != ExportEncoding::kNdjson && options.encoding != ExportEncoding::kBinary) {
    return InvalidArgumentError("export: unknown encoding " + std::to_string(static_cast<int>(options.encoding)));
  }
  if (header.created_at_ns < 0) return InvalidArgumentError("export: created_at_ns is negative");
  header.format_version = kExportFormatVersion;
  header.encoding = options.encoding;
  std::unique_ptr<Compressor> compressor;
  if (options.compression != nullptr) {
    header.compression = std::string(options.compression->name());
    if (header.compression.empty() || header.compression == "none") {
      return InvalidArgumentError("export: a Compression must have a name other than \"none\"");
    }
    SLUICE_ASSIGN_OR_RETURN(compressor, options.compression->NewCompressor());
  } else {
    header.compression = "none";
  }
  auto writer = std::make_unique<ExportWriterImpl>(sink, std::move(header), std::move(compressor));
  SLUICE_RETURN_IF_ERROR(writer->Start());
  return std::unique_ptr<ExportWriter>(std::move(writer));
}

Result<ExportReport> ExportStore(Store& store, std::string_view prefix, WritableFile& sink,
                                 const ExportOptions& options) {
  ExportHeader header;
  header.source_store = std::string(store.name());
  header.prefix = std::string(prefix);
  header.created_at_ns = (options.clock != nullptr ? *options.clock : store.clock()).NowNanos();
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<ExportWriter> writer, ExportWriter::Create(&sink, header, options));
  Status write_status;
  Status scan_status = store.Scan(prefix, [&](const Record& record) {
    write_status = writer->Add(record);
    return write_status.ok();
  });
  SLUICE_RETURN_IF_ERROR(write_status);
  if (!scan_status.ok()) {
    return Status(scan_status.code(), "export: scanning the " + std::string(store.name()) +
                                          " store failed: " + std::string(scan_status.message()));
  }
  return writer->Finish();
}

std::unique_ptr<WritableFile> NewStringWritableFile(std::string* out) {
  return std::make_unique<StringWritableFile>(out);
}

std::unique_ptr<SequentialFile> NewStringSequentialFile(std::string_view data) {
  return std::make_unique<StringSequentialFile>(data);
}

}  // namespace sluice
