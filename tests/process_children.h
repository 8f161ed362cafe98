// Test helper: the processes whose parent is `pid`, read from /proc/<p>/stat (the field after the command name).
#pragma once
#include <dirent.h>
#include <sys/types.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ditstudio::testing {

inline std::vector<pid_t> childProcesses(long long pid) {
    std::vector<pid_t> out;
    if (DIR* d = ::opendir("/proc")) {
        while (const dirent* e = ::readdir(d)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') {
                continue;
            }
            std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
            std::string line;
            std::getline(stat, line);
            const auto close = line.rfind(')');
            if (close == std::string::npos) {
                continue;
            }
            std::istringstream rest(line.substr(close + 2));
            char state = 0;
            long long parent = 0;
            rest >> state >> parent;
            if (parent == pid) {
                out.push_back(static_cast<pid_t>(std::stol(e->d_name)));
            }
        }
        ::closedir(d);
    }
    return out;
}

} // namespace ditstudio::testing
