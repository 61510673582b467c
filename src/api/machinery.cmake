# minik_api_machinery: API errors, label/field selectors, name and metadata validation, patches
# (JSON patch, merge patch, strategic merge patch with upstream's merge keys).
minik_add_library(minik_api_machinery
  SOURCES errors.cc labels.cc fields.cc validation.cc patch.cc patch_meta.cc
  DEPS minik_common)
