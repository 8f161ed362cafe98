// Precompiled header of the engine: the ATen and standard headers nearly every core/ file uses.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Functions.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
