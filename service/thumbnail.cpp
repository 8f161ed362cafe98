#include "service/thumbnail.h"

#include "core/util/error.h"

#include <fmt/format.h>
#include <png.h>

#include <csetjmp>
#include <memory>
#include <vector>

namespace ditstudio::service {

namespace {

void appendToString(png_structp png, png_bytep data, png_size_t length) {
    auto* out = static_cast<std::string*>(png_get_io_ptr(png));
    out->append(reinterpret_cast<const char*>(data), length);
}

void pngWarning(png_structp, png_const_charp) {}

} // namespace

std::string encodePng(const uint8_t* rgb, int64_t width, int64_t height) {
    if (width <= 0 || height <= 0) {
        throw Error(fmt::format("PNG encode: image size {}x{} is empty", width, height));
    }
    auto out = std::make_unique<std::string>();
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, pngWarning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!png || !info) {
        png_destroy_write_struct(&png, nullptr);
        throw Error("PNG encode: libpng could not allocate its state");
    }
    // libpng reports errors by longjmp back here (its documented idiom); only C frames are skipped.
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        throw Error("PNG encode: libpng failed while writing the thumbnail");
    }
    {
        png_set_write_fn(png, out.get(), appendToString, nullptr);
        png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, PNG_COLOR_TYPE_RGB,
                     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int64_t y = 0; y < height; ++y) {
            png_write_row(png, const_cast<png_bytep>(rgb + y * width * 3));
        }
        png_write_end(png, nullptr);
    }
    png_destroy_write_struct(&png, &info);
    return std::move(*out);
}

std::string makeThumbnail(const std::string& framesRgb, int64_t frames, int64_t height, int64_t width,
                          int64_t maxWidth) {
    if (frames <= 0 || static_cast<int64_t>(framesRgb.size()) != frames * height * width * 3) {
        throw Error(fmt::format("thumbnail: {} bytes do not hold {} frames of {}x{} RGB", framesRgb.size(), frames,
                                width, height));
    }
    const auto* frame = reinterpret_cast<const uint8_t*>(framesRgb.data()) + (frames / 2) * height * width * 3;
    const int64_t factor = std::max<int64_t>(1, (width + maxWidth - 1) / maxWidth);
    const int64_t outW = std::max<int64_t>(1, width / factor), outH = std::max<int64_t>(1, height / factor);
    std::vector<uint8_t> small(static_cast<size_t>(outW * outH * 3));
    for (int64_t y = 0; y < outH; ++y) {
        for (int64_t x = 0; x < outW; ++x) {
            for (int c = 0; c < 3; ++c) {
                int64_t sum = 0;
                for (int64_t dy = 0; dy < factor; ++dy) {
                    for (int64_t dx = 0; dx < factor; ++dx) {
                        sum += frame[((y * factor + dy) * width + (x * factor + dx)) * 3 + c];
                    }
                }
                small[static_cast<size_t>((y * outW + x) * 3 + c)] = static_cast<uint8_t>(sum / (factor * factor));
            }
        }
    }
    return encodePng(small.data(), outW, outH);
}

} // namespace ditstudio::service
