// Helpers for the CLI tests: run the built spool binary (SPOOL_BINARY) with arguments, capture stdout,
// stderr and the exit code; per-test scratch directories; reading a tensor back as floats.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "quant/types.h"

namespace spool::testing {

struct CliResult {
    int exit_code = -1;
    std::string out;  // stdout
    std::string err;  // stderr
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A fresh directory for one test, removed when the test ends.
class ScratchDir {
public:
    ScratchDir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(info->test_suite_name()) + "_" + info->name();
        for (char& c : name) {
            if (c == '/') c = '_';
        }
        path_ = std::filesystem::temp_directory_path() / ("spool_cli_" + std::to_string(::getpid()) + "_" + name);
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// Runs `spool ARGS` (each argument shell-quoted) and captures its outputs.
inline CliResult run_spool(const std::vector<std::string>& args) {
    const std::filesystem::path err_file = std::filesystem::temp_directory_path() /
                                           ("spool_cli_stderr_" + std::to_string(::getpid()) + ".txt");
    std::string cmd = shell_quote(SPOOL_BINARY);
    for (const std::string& a : args) cmd += " " + shell_quote(a);
    cmd += " 2>" + shell_quote(err_file.string());
    CliResult r;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_text(err_file);
    std::filesystem::remove(err_file);
    return r;
}

inline std::string describe(const CliResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out.substr(0, 4000) +
           "\n--- stderr ---\n" + r.err.substr(0, 4000);
}

// Every element of a tensor as floats, through the type table's reference dequantizer.
inline std::vector<float> tensor_floats(const gguf::TensorInfo& t) {
    const TypeInfo& info = type_info(t.type);
    std::vector<float> out(t.n_elements);
    const size_t row = row_bytes(t.type, t.ne[0]);
    for (int64_t r = 0; r < t.n_rows(); ++r) {
        info.dequantize_row(t.data + static_cast<size_t>(r) * row, out.data() + static_cast<size_t>(r) * t.ne[0],
                            t.ne[0]);
    }
    return out;
}

}  // namespace spool::testing
