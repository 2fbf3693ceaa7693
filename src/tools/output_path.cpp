// check_output_path: the output file's directory must exist and be writable, and the file must not be the input.
#include "tools/output_path.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "spool/errors.h"

namespace spool::tools {

namespace fs = std::filesystem;

void check_output_path(const fs::path& out, const fs::path& in) {
    std::error_code ec;
    if (!in.empty() && fs::exists(out, ec) && fs::equivalent(in, out, ec)) {
        throw UsageError("output '" + out.string() + "' is the input file; write to a new file");
    }
    if (fs::is_directory(out, ec)) throw UsageError("output '" + out.string() + "' is a directory; give a file name");
    const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    if (!fs::is_directory(dir, ec)) {
        throw SystemError("cannot write '" + out.string() + "': directory '" + dir.string() + "' does not exist");
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        throw SystemError("cannot write '" + out.string() + "': directory '" + dir.string() + "' is not writable (" +
                          std::strerror(errno) + ")");
    }
}

}  // namespace spool::tools
