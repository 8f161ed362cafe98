# The libraries of the headless stack. Qt is found only in ui/ and the GUI app.
find_package(Threads REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG IMPORTED_TARGET libavformat libavcodec libswscale libavutil)
pkg_check_modules(SENTENCEPIECE IMPORTED_TARGET sentencepiece)
find_package(OpenSSL COMPONENTS Crypto) # SHA-256 of model files in output sidecars (optional: libssl-dev)
find_package(CLI11 REQUIRED)

# The torch wheel ships its own (newer) fmt headers in its include directory; spdlog from the distribution is built
# against the system fmt. A -I directory that holds only a link to the system fmt headers comes before torch's
# -isystem directories, so every <fmt/...> include resolves to the fmt that spdlog and libfmt were built with.
get_target_property(_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
find_path(DITSTUDIO_SYSTEM_FMT_DIR fmt/core.h HINTS ${_fmt_includes} /usr/include NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
set(DITSTUDIO_FMT_SHADOW "${CMAKE_BINARY_DIR}/fmt-shadow")
file(MAKE_DIRECTORY "${DITSTUDIO_FMT_SHADOW}")
file(CREATE_LINK "${DITSTUDIO_SYSTEM_FMT_DIR}/fmt" "${DITSTUDIO_FMT_SHADOW}/fmt" SYMBOLIC)
