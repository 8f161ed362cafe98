#include "core/io/pth_reader.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <c10/util/irange.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace ditstudio::io {

namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------------------------------ pickle subset
// torch.save pickles (protocol 2, sometimes 4) of dicts, OrderedDicts, tuples, lists, scalars and tensors rebuilt
// by torch._utils._rebuild_tensor_v2 from persistent storage ids. LibTorch's own unpickler turns every
// collections.OrderedDict into None (it only expects them as backward hooks), which is what nn.Module.state_dict()
// returns, so DiT Studio reads the pickle itself: a stack machine over the opcodes below that never executes
// anything. Unknown classes become opaque values, so a checkpoint's other entries (optimizer state, argparse
// namespaces) do not prevent reading its state dict; only a non-tensor inside the state dict is an error.

struct PickleValue;
using PickleRef = PickleValue*; // owned by the PickleReader's arena: pickles can hold reference cycles

struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor, Opaque };
    Kind kind = Kind::None;
    int64_t integer = 0; // Bool, Int
    double real = 0;
    std::string text;    // String; Global/Opaque: "module.name"
    std::vector<PickleRef> items;                          // Tuple, List
    std::vector<std::pair<PickleRef, PickleRef>> entries; // Dict
    at::Tensor tensor;   // Tensor, Storage (a 1-D tensor over the whole storage)
};

std::string describeValue(const PickleValue& v) {
    switch (v.kind) {
    case PickleValue::Kind::None:
        return "None";
    case PickleValue::Kind::Bool:
        return "bool";
    case PickleValue::Kind::Int:
        return "int";
    case PickleValue::Kind::Float:
        return "float";
    case PickleValue::Kind::String:
        return "str";
    case PickleValue::Kind::Tuple:
        return "tuple";
    case PickleValue::Kind::List:
        return "list";
    case PickleValue::Kind::Dict:
        return "dict";
    case PickleValue::Kind::Global:
        return "class " + v.text;
    case PickleValue::Kind::Storage:
        return "storage";
    case PickleValue::Kind::Tensor:
        return "tensor";
    case PickleValue::Kind::Opaque:
        return v.text + " object";
    }
    return "?";
}

std::optional<at::ScalarType> storageType(const std::string& global) {
    static const std::map<std::string, at::ScalarType> types = {
        {"torch.FloatStorage", at::kFloat},       {"torch.HalfStorage", at::kHalf},
        {"torch.BFloat16Storage", at::kBFloat16}, {"torch.DoubleStorage", at::kDouble},
        {"torch.LongStorage", at::kLong},         {"torch.IntStorage", at::kInt},
        {"torch.ShortStorage", at::kShort},       {"torch.CharStorage", at::kChar},
        {"torch.ByteStorage", at::kByte},         {"torch.BoolStorage", at::kBool},
        {"torch.ComplexFloatStorage", at::kComplexFloat}, {"torch.ComplexDoubleStorage", at::kComplexDouble},
        {"torch.Float8_e4m3fnStorage", at::kFloat8_e4m3fn}, {"torch.Float8_e5m2Storage", at::kFloat8_e5m2},
    };
    auto it = types.find(global);
    return it == types.end() ? std::nullopt : std::optional<at::ScalarType>(it->second);
}

class PickleReader {
public:
    PickleReader(const std::string& data, caffe2::serialize::PyTorchStreamReader& archive, const fs::path& path,
                 uint64_t fileBytes)
        : data_(data), archive_(archive), path_(path), fileBytes_(fileBytes) {}

    // Values live as long as the reader.
    PickleRef make(PickleValue::Kind kind) {
        arena_.push_back(std::make_unique<PickleValue>());
        arena_.back()->kind = kind;
        return arena_.back().get();
    }

    PickleRef run() {
        while (true) {
            const uint8_t op = byte();
            switch (op) {
            case 0x80: // PROTO
                byte();
                break;
            case 0x95: // FRAME
                bytes(8);
                break;
            case '.': // STOP
                return pop();
            case '(': // MARK
                marks_.push_back(stack_.size());
                break;
            case 'N':
                push(make(PickleValue::Kind::None));
                break;
            case 0x88:
            case 0x89: { // NEWTRUE, NEWFALSE
                auto v = make(PickleValue::Kind::Bool);
                v->integer = op == 0x88;
                push(v);
            } break;
            case 'K':
                pushInt(byte());
                break;
            case 'M':
                pushInt(int64_t(littleEndian(2)));
                break;
            case 'J':
                pushInt(int64_t(int32_t(littleEndian(4))));
                break;
            case 0x8a: { // LONG1
                const size_t n = byte();
                if (n > 8) {
                    fail(fmt::format("integer of {} bytes at byte {} does not fit in 64 bits", n, pos_ - 2));
                }
                uint64_t value = littleEndian(n);
                if (n > 0 && n < 8 && (value >> (8 * n - 1)) & 1) {
                    value |= ~uint64_t(0) << (8 * n); // sign-extend
                }
                pushInt(int64_t(value));
            } break;
            case 'G': { // BINFLOAT, big-endian
                uint64_t bits = 0;
                for (char c : bytes(8)) {
                    bits = (bits << 8) | uint8_t(c);
                }
                auto v = make(PickleValue::Kind::Float);
                std::memcpy(&v->real, &bits, 8);
                push(v);
            } break;
            case 'X':
                pushString(bytes(littleEndian(4)));
                break;
            case 0x8c: // SHORT_BINUNICODE
                pushString(bytes(byte()));
                break;
            case 0x8d: // BINUNICODE8
                pushString(bytes(littleEndian(8)));
                break;
            case 'T': // BINSTRING
            case 'B': // BINBYTES
                pushString(bytes(littleEndian(4)));
                break;
            case 'U': // SHORT_BINSTRING
            case 'C': // SHORT_BINBYTES
                pushString(bytes(byte()));
                break;
            case 'c': { // GLOBAL "module\nname\n"
                const std::string module = line(), name = line();
                auto v = make(PickleValue::Kind::Global);
                v->text = module + "." + name;
                push(v);
            } break;
            case 0x93: { // STACK_GLOBAL
                auto name = pop(), module = pop();
                auto v = make(PickleValue::Kind::Global);
                v->text = module->text + "." + name->text;
                push(v);
            } break;
            case 'q':
                memo_[byte()] = top();
                break;
            case 'r':
                memo_[littleEndian(4)] = top();
                break;
            case 0x94: // MEMOIZE
                memo_[memo_.size()] = top();
                break;
            case 'h':
                push(memo(byte()));
                break;
            case 'j':
                push(memo(littleEndian(4)));
                break;
            case ')':
                push(make(PickleValue::Kind::Tuple));
                break;
            case 't': {
                auto v = make(PickleValue::Kind::Tuple);
                v->items = popToMark();
                push(v);
            } break;
            case 0x85:
            case 0x86:
            case 0x87: { // TUPLE1..3
                auto v = make(PickleValue::Kind::Tuple);
                v->items.resize(op - 0x84);
                for (size_t i = v->items.size(); i-- > 0;) {
                    v->items[i] = pop();
                }
                push(v);
            } break;
            case ']':
                push(make(PickleValue::Kind::List));
                break;
            case 'l': {
                auto v = make(PickleValue::Kind::List);
                v->items = popToMark();
                push(v);
            } break;
            case 'a': {
                auto item = pop();
                top()->items.push_back(item);
            } break;
            case 'e': {
                auto items = popToMark();
                auto& list = top()->items;
                list.insert(list.end(), items.begin(), items.end());
            } break;
            case '}':
                push(make(PickleValue::Kind::Dict));
                break;
            case 'd': {
                auto v = make(PickleValue::Kind::Dict);
                addPairs(*v, popToMark());
                push(v);
            } break;
            case 's': {
                auto value = pop(), key = pop();
                expectDict(top())->entries.emplace_back(key, value);
            } break;
            case 'u': {
                auto items = popToMark();
                addPairs(*expectDict(top()), items);
            } break;
            case 'Q': // BINPERSID
                push(persistent(pop()));
                break;
            case 'R': { // REDUCE
                auto args = pop(), callable = pop();
                push(reduce(*callable, *args));
            } break;
            case 0x81: { // NEWOBJ
                pop();
                auto cls = pop();
                auto v = make(PickleValue::Kind::Opaque);
                v->text = cls->text;
                push(v);
            } break;
            case 'b': // BUILD: the object's state (OrderedDict._metadata, object __dict__) is not needed
                pop();
                break;
            default:
                fail(fmt::format("unsupported pickle opcode 0x{:02x} at byte {}", op, pos_ - 1));
            }
        }
    }

private:
    [[noreturn]] void fail(const std::string& message) const {
        throw FormatError(fmt::format("{}: data.pkl: {}", path_.string(), message));
    }
    uint8_t byte() {
        if (pos_ >= data_.size()) {
            fail("pickle ends early (truncated?)");
        }
        return uint8_t(data_[pos_++]);
    }
    std::string bytes(uint64_t n) {
        if (n > data_.size() - pos_) {
            fail("pickle ends early (truncated?)");
        }
        std::string out = data_.substr(pos_, n);
        pos_ += n;
        return out;
    }
    uint64_t littleEndian(size_t n) {
        uint64_t value = 0;
        for (size_t i = 0; i < n; ++i) {
            value |= uint64_t(byte()) << (8 * i);
        }
        return value;
    }
    std::string line() {
        const auto end = data_.find('\n', pos_);
        if (end == std::string::npos) {
            fail("pickle ends early (truncated?)");
        }
        std::string out = data_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return out;
    }
    void push(PickleRef v) { stack_.push_back(v); }
    void pushInt(int64_t value) {
        auto v = make(PickleValue::Kind::Int);
        v->integer = value;
        push(v);
    }
    void pushString(std::string text) {
        auto v = make(PickleValue::Kind::String);
        v->text = std::move(text);
        push(v);
    }
    PickleRef top() {
        if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size())) {
            fail("malformed pickle (empty stack)");
        }
        return stack_.back();
    }
    PickleRef pop() {
        auto v = top();
        stack_.pop_back();
        return v;
    }
    PickleRef memo(uint64_t index) {
        auto it = memo_.find(index);
        if (it == memo_.end()) {
            fail(fmt::format("malformed pickle (memo {} not set)", index));
        }
        return it->second;
    }
    std::vector<PickleRef> popToMark() {
        if (marks_.empty() || marks_.back() > stack_.size()) {
            fail("malformed pickle (no mark)");
        }
        std::vector<PickleRef> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
        stack_.resize(marks_.back());
        marks_.pop_back();
        return items;
    }
    PickleRef expectDict(PickleRef v) {
        if (v->kind != PickleValue::Kind::Dict) {
            fail(fmt::format("malformed pickle (setting an item on a {})", describeValue(*v)));
        }
        return v;
    }
    void addPairs(PickleValue& dict, const std::vector<PickleRef>& items) {
        if (items.size() % 2 != 0) {
            fail("malformed pickle (odd number of dict items)");
        }
        for (size_t i = 0; i < items.size(); i += 2) {
            dict.entries.emplace_back(items[i], items[i + 1]);
        }
    }

    // ('storage', torch.FloatStorage, key, location, numel) → the storage record data/<key>, shared by views.
    PickleRef persistent(const PickleRef& id) {
        const auto& f = id->items;
        if (id->kind != PickleValue::Kind::Tuple || f.size() < 5 || f[0]->text != "storage" ||
            f[2]->kind != PickleValue::Kind::String || f[4]->kind != PickleValue::Kind::Int) {
            fail("unsupported persistent id (expected a torch storage)");
        }
        const auto dtype = storageType(f[1]->text);
        if (!dtype) {
            fail(fmt::format("unsupported storage type {}", f[1]->text));
        }
        const std::string& key = f[2]->text;
        auto cached = storages_.find(key);
        if (cached != storages_.end()) {
            return cached->second;
        }
        const int64_t numel = f[4]->integer;
        const std::string record = "data/" + key;
        if (!archive_.hasRecord(record)) {
            fail(fmt::format("storage record '{}' is missing from the archive", record));
        }
        const uint64_t recordBytes = archive_.getRecordSize(record);
        if (numel < 0 || uint64_t(numel) > recordBytes || recordBytes > fileBytes_) {
            fail(fmt::format("storage '{}' of {} elements does not fit its record of {} bytes in a {}-byte file", key,
                             numel, recordBytes, fileBytes_));
        }
        const uint64_t expectedBytes = uint64_t(numel) * c10::elementSize(*dtype);
        auto [dataPtr, byteCount] = archive_.getRecord(record);
        if (byteCount < expectedBytes) {
            fail(fmt::format("storage '{}' holds {} bytes, expected {} ({} × {})", key, byteCount, expectedBytes,
                             numel, c10::toString(*dtype)));
        }
        at::Storage storage(c10::Storage::use_byte_size_t(), byteCount, std::move(dataPtr), nullptr, false);
        auto v = make(PickleValue::Kind::Storage);
        v->tensor = at::empty({0}, at::TensorOptions().dtype(*dtype)).set_(storage, 0, {numel}, {1}); // [numel]
        storages_.emplace(key, v);
        return v;
    }

    std::vector<int64_t> intTuple(const PickleRef& v, const char* what) {
        std::vector<int64_t> out;
        if (v->kind != PickleValue::Kind::Tuple && v->kind != PickleValue::Kind::List) {
            fail(fmt::format("tensor {} is a {}, expected a tuple of ints", what, describeValue(*v)));
        }
        for (const auto& item : v->items) {
            if (item->kind != PickleValue::Kind::Int) {
                fail(fmt::format("tensor {} holds a {}, expected ints", what, describeValue(*item)));
            }
            out.push_back(item->integer);
        }
        return out;
    }

    PickleRef reduce(const PickleValue& callable, const PickleValue& args) {
        const std::string& name = callable.text;
        const auto& a = args.items;
        if (callable.kind == PickleValue::Kind::Global && args.kind == PickleValue::Kind::Tuple) {
            if (name == "collections.OrderedDict") {
                return make(PickleValue::Kind::Dict); // state dicts; items follow through SETITEMS
            }
            if ((name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") &&
                a.size() >= 4 && a[0]->kind == PickleValue::Kind::Storage && a[1]->kind == PickleValue::Kind::Int) {
                const at::Tensor& storage = a[0]->tensor; // [numel]
                const auto size = intTuple(a[2], "size"), stride = intTuple(a[3], "stride");
                if (size.size() != stride.size()) {
                    fail(fmt::format("tensor has {} sizes but {} strides", size.size(), stride.size()));
                }
                int64_t last = a[1]->integer; // highest element index touched
                bool isOverflow = false;
                for (size_t d = 0; d < size.size(); ++d) {
                    if (size[d] == 0) {
                        last = -1;
                        break;
                    }
                    int64_t span = 0;
                    isOverflow = isOverflow || size[d] < 0 || stride[d] < 0 ||
                                 __builtin_mul_overflow(size[d] - 1, stride[d], &span) ||
                                 __builtin_add_overflow(last, span, &last);
                }
                if (a[1]->integer < 0 || isOverflow || last >= storage.numel()) {
                    fail(fmt::format("tensor of size {} at offset {} runs past its storage of {} elements",
                                     c10::str(c10::IntArrayRef(size)), a[1]->integer, storage.numel()));
                }
                auto v = make(PickleValue::Kind::Tensor);
                v->tensor = at::empty({0}, storage.options())
                                .set_(storage.storage(), a[1]->integer, size, stride); // [size] (a view)
                return v;
            }
            if ((name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") &&
                !a.empty() && a[0]->kind == PickleValue::Kind::Tensor) {
                return a[0];
            }
            if (name == "torch._tensor._rebuild_from_type_v2" && a.size() >= 3 &&
                a[0]->kind == PickleValue::Kind::Global) {
                return reduce(*a[0], *a[2]);
            }
            if (name == "torch.jit._pickle.restore_type_tag" && !a.empty()) {
                return a[0];
            }
        }
        auto v = make(PickleValue::Kind::Opaque);
        v->text = callable.kind == PickleValue::Kind::Global ? name : describeValue(callable) + "(...)";
        return v;
    }

    const std::string& data_;
    size_t pos_ = 0;
    caffe2::serialize::PyTorchStreamReader& archive_;
    fs::path path_;
    uint64_t fileBytes_;
    std::vector<std::unique_ptr<PickleValue>> arena_;
    std::vector<PickleRef> stack_;
    std::vector<size_t> marks_;
    std::map<uint64_t, PickleRef> memo_;
    std::map<std::string, PickleRef> storages_;
};

// The state dict inside a loaded pickle: the top-level dict itself, or the dict under one of the usual
// checkpoint keys when the top level holds more than tensors.
const PickleValue& stateDictOf(const PickleValue& root, const fs::path& path, int depth = 0) {
    if (depth > 4) { // a dict nested in itself through the pickle's memo would recurse forever
        throw FormatError(fmt::format("{}: state dict nested more than 4 levels deep under state_dict/model/module",
                                      path.string()));
    }
    if (root.kind != PickleValue::Kind::Dict) {
        throw FormatError(fmt::format("{}: expected a dict of tensors (a state dict), found a pickled {}",
                                      path.string(), describeValue(root)));
    }
    bool isAllTensors = true;
    for (const auto& [key, value] : root.entries) {
        isAllTensors = isAllTensors && value->kind == PickleValue::Kind::Tensor;
    }
    if (isAllTensors) {
        return root;
    }
    for (const char* name : {"state_dict", "model", "module"}) {
        for (const auto& [key, value] : root.entries) {
            if (key->kind == PickleValue::Kind::String && key->text == name && value->kind == PickleValue::Kind::Dict) {
                spdlog::debug("{}: using the state dict under \"{}\"", path.string(), name);
                return stateDictOf(*value, path, depth + 1);
            }
        }
    }
    return root; // the caller names the first entry that is not a tensor
}

} // namespace

static void checkSignature(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        throw FormatError(fmt::format("{}: no such file", path.string()));
    }
    {
        std::ifstream in(path, std::ios::binary);
        std::array<char, 4> magic{};
        in.read(magic.data(), magic.size());
        if (in.gcount() < 2) {
            throw FormatError(fmt::format("{}: file is too short to be a PyTorch checkpoint ({} bytes)",
                                          path.string(), in.gcount()));
        }
        if (static_cast<unsigned char>(magic[0]) == 0x80 && static_cast<unsigned char>(magic[1]) == 0x02) {
            throw FormatError(fmt::format("{}: legacy (pre-1.6, non-zip) torch.save format, which LibTorch cannot "
                                          "read; re-save it with torch >= 1.6 or convert it to .safetensors",
                                          path.string()));
        }
        if (std::memcmp(magic.data(), "PK\x03\x04", 4) != 0) {
            throw FormatError(fmt::format("{}: not a PyTorch zip checkpoint (no zip signature at the start)",
                                          path.string()));
        }
    }
}

void checkPth(const fs::path& path) {
    checkSignature(path);
    try {
        caffe2::serialize::PyTorchStreamReader reader(path.string());
        if (!reader.hasRecord("data.pkl")) {
            throw FormatError(fmt::format("{}: zip archive without a data.pkl record: not written by torch.save",
                                          path.string()));
        }
    } catch (const c10::Error& e) {
        throw FormatError(fmt::format("{}: cannot read the PyTorch checkpoint (truncated or corrupt?): {}",
                                      path.string(), e.what_without_backtrace()));
    }
}

std::map<std::string, at::Tensor> readPth(const fs::path& path) {
    const auto started = std::chrono::steady_clock::now();
    checkSignature(path);
    std::map<std::string, at::Tensor> tensors;
    try {
        caffe2::serialize::PyTorchStreamReader archive(path.string());
        if (archive.hasRecord("byteorder")) {
            auto [order, orderBytes] = archive.getRecord("byteorder");
            const std::string byteOrder(static_cast<const char*>(order.get()), orderBytes);
            if (byteOrder != "little") {
                throw FormatError(fmt::format("{}: written on a {}-endian machine; only little-endian checkpoints "
                                              "are read",
                                              path.string(), byteOrder));
            }
        }
        if (!archive.hasRecord("data.pkl")) {
            throw FormatError(fmt::format("{}: zip archive without a data.pkl record: not written by torch.save",
                                          path.string()));
        }
        const uint64_t fileBytes = fs::file_size(path);
        if (archive.getRecordSize("data.pkl") > fileBytes) { // torch.save stores records uncompressed
            throw FormatError(fmt::format("{}: data.pkl claims {} bytes in a {}-byte file", path.string(),
                                          archive.getRecordSize("data.pkl"), fileBytes));
        }
        auto [pickleData, pickleBytes] = archive.getRecord("data.pkl");
        const std::string pickle(static_cast<const char*>(pickleData.get()), pickleBytes);
        PickleReader reader(pickle, archive, path, fileBytes);
        const PickleRef root = reader.run();
        for (const auto& [key, value] : stateDictOf(*root, path).entries) {
            if (key->kind != PickleValue::Kind::String) {
                throw FormatError(fmt::format("{}: state dict key of type {} where tensor names are expected",
                                              path.string(), describeValue(*key)));
            }
            if (value->kind != PickleValue::Kind::Tensor) {
                throw FormatError(fmt::format("{}: entry '{}' is a {}, not a tensor", path.string(), key->text,
                                              describeValue(*value)));
            }
            tensors.insert_or_assign(key->text, value->tensor);
        }
    } catch (const c10::Error& e) {
        throw FormatError(fmt::format("{}: cannot read the PyTorch checkpoint (truncated or corrupt?): {}",
                                      path.string(), e.what_without_backtrace()));
    }
    spdlog::debug("{}: {} tensors read in {:.2f} s", path.string(), tensors.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return tensors;
}

WeightSource openPth(const fs::path& path) { return WeightSource::fromTensors(readPth(path), path.string()); }

void savePth(const fs::path& path, const std::map<std::string, at::Tensor>& tensors) {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, tensor] : tensors) {
        dict.insert(name, tensor.detach().to(at::kCPU).contiguous());
    }
    const fs::path temporary =
        path.parent_path() / fmt::format(".{}.partial-{}", path.filename().string(), static_cast<long>(::getpid()));
    std::FILE* file = std::fopen(temporary.c_str(), "wb");
    if (file == nullptr) {
        throw FormatError(fmt::format("{}: cannot create: {}", path.string(), std::strerror(errno)));
    }
    bool isWritten = false;
    std::string failure;
    try {
        std::vector<char> pickleBytes;
        // Untagged aggregates: a plain dict, as Python's torch.save writes it (no torch.jit._pickle type tags).
        torch::jit::Pickler pickler(
            [&](const char* data, size_t size) { pickleBytes.insert(pickleBytes.end(), data, data + size); },
            /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
            /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
        pickler.protocol();
        pickler.pushIValue(c10::IValue(dict));
        pickler.stop();
        caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
            return std::fwrite(data, 1, size, file);
        });
        torch::jit::writeArchiveAndTensors("data", pickleBytes.data(), pickleBytes.size(), pickler.tensorData(),
                                           writer);
        writer.writeEndOfFile();
        isWritten = true;
    } catch (const c10::Error& e) {
        failure = e.what_without_backtrace();
    }
    const bool isClosed = std::fflush(file) == 0 && std::fclose(file) == 0;
    std::error_code ec;
    if (!isWritten || !isClosed) {
        fs::remove(temporary, ec);
        throw FormatError(fmt::format("{}: cannot write the checkpoint: {}", path.string(),
                                      failure.empty() ? std::strerror(errno) : failure));
    }
    fs::rename(temporary, path, ec);
    if (ec) {
        fs::remove(temporary, ec);
        throw FormatError(fmt::format("{}: cannot rename the written checkpoint into place", path.string()));
    }
}

} // namespace ditstudio::io
