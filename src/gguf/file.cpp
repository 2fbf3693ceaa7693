// GgufFile: maps one file or every part of a split model, validates each with parse_part, and presents
// one metadata list (the first part's) and one tensor list (all parts, in part order).
#include "gguf/file.h"

#include <optional>
#include <unordered_map>

#include "core/mapped_file.h"
#include "gguf/part_reader.h"
#include "gguf/split_name.h"
#include "spool/errors.h"

namespace spool::gguf {

int64_t TensorInfo::n_rows() const noexcept {
    int64_t rows = 1;
    for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
    return rows;
}

struct GgufFile::Impl {
    std::string path;
    std::vector<MappedFile> maps;  // one per part; empty for parse()
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint32_t n_splits = 1;
    uint64_t file_bytes = 0;
    std::vector<std::pair<std::string, Value>> metadata;
    std::vector<uint64_t> metadata_offsets;
    std::vector<TensorInfo> tensors;
    // Views into the strings above; built once the vectors are final.
    std::unordered_map<std::string_view, size_t> key_index;
    std::unordered_map<std::string_view, size_t> tensor_index;

    void build_indexes() {
        key_index.reserve(metadata.size());
        for (size_t i = 0; i < metadata.size(); ++i) key_index.emplace(metadata[i].first, i);
        tensor_index.reserve(tensors.size());
        for (size_t i = 0; i < tensors.size(); ++i) tensor_index.emplace(tensors[i].name, i);
    }
};

namespace {

// The problem text of a FormatError, without its "file: field at offset N: " prefix.
std::string problem_of(const FormatError& e) {
    const size_t prefix = e.file().size() + 2 + e.field().size() + 11 + std::to_string(e.offset()).size() + 2;
    const std::string_view what = e.what();
    return prefix <= what.size() ? std::string(what.substr(prefix)) : std::string(what);
}

struct PartMeta {
    const std::vector<std::pair<std::string, Value>>& metadata;
    const std::vector<uint64_t>& offsets;
    const std::string& file;
};

// An optional integer key of a part, with errors that name the part's file and the value's offset.
std::optional<uint64_t> find_u64(const PartMeta& m, std::string_view key) {
    for (size_t i = 0; i < m.metadata.size(); ++i) {
        if (m.metadata[i].first != key) continue;
        try {
            return m.metadata[i].second.as_u64(key);
        } catch (const FormatError& e) {
            throw FormatError(m.file, m.offsets[i], std::string(key), problem_of(e));
        }
    }
    return std::nullopt;
}

uint64_t offset_of(const PartMeta& m, std::string_view key) {
    for (size_t i = 0; i < m.metadata.size(); ++i) {
        if (m.metadata[i].first == key) return m.offsets[i];
    }
    return 0;
}

// Checks split.no / split.count of part `index` (0-based) of `count`.
void check_split_keys(const PartMeta& m, uint32_t index, uint32_t count) {
    const auto no = find_u64(m, "split.no");
    if (!no || *no != index) {
        throw FormatError(m.file, offset_of(m, "split.no"), "split.no",
                          "expected part number " + std::to_string(index) + " (0-based) of a " +
                              std::to_string(count) + "-part model, got " + (no ? std::to_string(*no) : "no such key"));
    }
    const auto n = find_u64(m, "split.count");
    if (!n || *n != count) {
        throw FormatError(m.file, offset_of(m, "split.count"), "split.count",
                          "expected " + std::to_string(count) + " parts (from the first part and the file name), got " +
                              (n ? std::to_string(*n) : "no such key"));
    }
}

void append_part_tensors(std::vector<TensorInfo>& tensors, ParsedPart& part, const std::string& file,
                         std::unordered_map<std::string, std::string>& owner) {
    // Names must be unique across parts, not only within one.
    for (TensorInfo& t : part.tensors) {
        const std::string& name = t.name;
        if (auto [it, inserted] = owner.emplace(name, file); !inserted) {
            throw FormatError(file, 0, "tensor '" + name + "' name",
                              "duplicate tensor name across split parts (also in " + it->second + ")");
        }
        tensors.push_back(std::move(t));
    }
}

}  // namespace

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::parse(const uint8_t* bytes, size_t size, std::string name, const ReadLimits& limits) {
    auto impl = std::make_unique<Impl>();
    ParsedPart part = parse_part(bytes, size, name, limits, 0);
    const PartMeta meta{part.metadata, part.metadata_offsets, name};
    if (const auto count = find_u64(meta, "split.count"); count && *count > 1) {
        throw FormatError(name, offset_of(meta, "split.count"), "split.count",
                          "this image is one part of a " + std::to_string(*count) +
                              "-part split model; parse() reads single files, so open the first part by path");
    }
    impl->path = std::move(name);
    impl->version = part.version;
    impl->alignment = part.alignment;
    impl->file_bytes = size;
    impl->metadata = std::move(part.metadata);
    impl->metadata_offsets = std::move(part.metadata_offsets);
    impl->tensors = std::move(part.tensors);
    impl->build_indexes();
    return GgufFile(std::move(impl));
}

GgufFile GgufFile::open(const std::filesystem::path& path, const ReadLimits& limits) {
    auto impl = std::make_unique<Impl>();
    impl->path = path.string();
    impl->maps.emplace_back(path);
    const MappedFile& first_map = impl->maps.front();
    ParsedPart first = parse_part(first_map.data(), first_map.size(), impl->path, limits, 0);
    impl->version = first.version;
    impl->alignment = first.alignment;
    impl->file_bytes = first_map.size();

    const PartMeta meta{first.metadata, first.metadata_offsets, impl->path};
    const auto meta_count = find_u64(meta, "split.count");
    const auto name = parse_split_name(path.filename().string());
    const uint64_t count = meta_count.value_or(1);
    if (name && name->count > 1 && name->part != 1) {
        const std::filesystem::path first_part = path.parent_path() / split_file_name(name->prefix, 1, name->count);
        throw UsageError("'" + impl->path + "' is part " + std::to_string(name->part) + " of a " +
                         std::to_string(name->count) + "-part split model; open the first part, '" +
                         first_part.string() + "', to load the whole model");
    }
    if (count > 1 || (name && name->count > 1)) {
        if (!name || name->count != count) {
            const std::string expected =
                name ? "the file name says " + std::to_string(name->count) + " parts"
                     : "the file name does not have the form NAME-00001-of-0000N.gguf, so the other parts "
                       "cannot be found";
            const std::string claimed = meta_count ? std::to_string(*meta_count) : std::string("1 (no key)");
            throw FormatError(impl->path, offset_of(meta, "split.count"), "split.count",
                              "metadata says " + claimed + " parts but " + expected);
        }
    }
    std::unordered_map<std::string, std::string> owner;
    if (count <= 1) {
        append_part_tensors(impl->tensors, first, impl->path, owner);
    } else {
        const auto n_parts = static_cast<uint32_t>(count);
        check_split_keys(meta, 0, n_parts);
        append_part_tensors(impl->tensors, first, impl->path, owner);
        impl->maps.reserve(n_parts);
        for (uint32_t i = 2; i <= n_parts; ++i) {
            const std::filesystem::path part_path = path.parent_path() / split_file_name(name->prefix, i, n_parts);
            std::error_code ec;
            if (!std::filesystem::exists(part_path, ec)) {
                throw FormatError(impl->path, offset_of(meta, "split.count"), "split.count",
                                  "split model part " + std::to_string(i) + " of " + std::to_string(n_parts) +
                                      " is missing: '" + part_path.string() + "' does not exist");
            }
            const MappedFile& map = impl->maps.emplace_back(part_path);
            ParsedPart part = parse_part(map.data(), map.size(), part_path.string(), limits, i - 1);
            check_split_keys(PartMeta{part.metadata, part.metadata_offsets, part_path.string()}, i - 1, n_parts);
            append_part_tensors(impl->tensors, part, part_path.string(), owner);
            impl->file_bytes += map.size();
        }
        if (const auto total = find_u64(meta, "split.tensors.count"); total && *total != impl->tensors.size()) {
            throw FormatError(impl->path, offset_of(meta, "split.tensors.count"), "split.tensors.count",
                              "expected " + std::to_string(*total) + " tensors over all parts, found " +
                                  std::to_string(impl->tensors.size()));
        }
        impl->n_splits = n_parts;
    }
    impl->metadata = std::move(first.metadata);
    impl->metadata_offsets = std::move(first.metadata_offsets);
    impl->build_indexes();
    return GgufFile(std::move(impl));
}

const std::string& GgufFile::path() const noexcept { return impl_->path; }
uint32_t GgufFile::version() const noexcept { return impl_->version; }
uint64_t GgufFile::alignment() const noexcept { return impl_->alignment; }
uint32_t GgufFile::n_splits() const noexcept { return impl_->n_splits; }
uint64_t GgufFile::file_bytes() const noexcept { return impl_->file_bytes; }

const std::vector<std::pair<std::string, Value>>& GgufFile::metadata() const noexcept { return impl_->metadata; }

const Value* GgufFile::find(std::string_view key) const noexcept {
    const auto it = impl_->key_index.find(key);
    return it == impl_->key_index.end() ? nullptr : &impl_->metadata[it->second].second;
}

const Value& GgufFile::at(std::string_view key) const {
    if (const Value* v = find(key)) return *v;
    throw FormatError(impl_->path, 0, std::string(key), "missing metadata key (the file has " +
                                                            std::to_string(impl_->metadata.size()) + " keys)");
}

namespace {

// Runs convert(value of key) and rethrows its FormatError with the file and the value's offset.
template <class F>
auto convert_with_context(const std::string& path, const Value& value, uint64_t offset, std::string_view key,
                          F convert) -> decltype(convert(value)) {
    try {
        return convert(value);
    } catch (const FormatError& e) {
        throw FormatError(path, offset, std::string(key), problem_of(e));
    }
}

}  // namespace

std::string GgufFile::get_string(std::string_view key, std::string_view fallback) const {
    const auto it = impl_->key_index.find(key);
    if (it == impl_->key_index.end()) return std::string(fallback);
    return convert_with_context(impl_->path, impl_->metadata[it->second].second, impl_->metadata_offsets[it->second],
                                key, [&](const Value& v) { return v.as_string(key); });
}

uint64_t GgufFile::get_u64(std::string_view key, uint64_t fallback) const {
    const auto it = impl_->key_index.find(key);
    if (it == impl_->key_index.end()) return fallback;
    return convert_with_context(impl_->path, impl_->metadata[it->second].second, impl_->metadata_offsets[it->second],
                                key, [&](const Value& v) { return v.as_u64(key); });
}

double GgufFile::get_f64(std::string_view key, double fallback) const {
    const auto it = impl_->key_index.find(key);
    if (it == impl_->key_index.end()) return fallback;
    return convert_with_context(impl_->path, impl_->metadata[it->second].second, impl_->metadata_offsets[it->second],
                                key, [&](const Value& v) { return v.as_f64(key); });
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
    const auto it = impl_->key_index.find(key);
    if (it == impl_->key_index.end()) return fallback;
    return convert_with_context(impl_->path, impl_->metadata[it->second].second, impl_->metadata_offsets[it->second],
                                key, [&](const Value& v) { return v.as_bool(key); });
}

std::string GgufFile::architecture() const { return get_string("general.architecture", ""); }

const std::vector<TensorInfo>& GgufFile::tensors() const noexcept { return impl_->tensors; }

const TensorInfo* GgufFile::find_tensor(std::string_view name) const noexcept {
    const auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const TensorInfo& GgufFile::tensor(std::string_view name) const {
    if (const TensorInfo* t = find_tensor(name)) return *t;
    throw FormatError(impl_->path, 0, "tensor '" + std::string(name) + "'",
                      "missing tensor (the model has " + std::to_string(impl_->tensors.size()) + " tensors)");
}

}  // namespace spool::gguf
