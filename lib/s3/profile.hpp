#pragma once
// AWS shared config/credentials files (INI), as the SDKs read them.
#include <map>
#include <string>

namespace cryptopipe {

/// Key/value pairs of `[section]` in the INI file at `path`; empty if the file or section is missing.
std::map<std::string, std::string> read_ini_section(const std::string& path, const std::string& section);
/// The merged settings of AWS profile `profile` (config file, then the credentials file, which wins).
std::map<std::string, std::string> read_profile(const std::string& profile);

}  // namespace cryptopipe
