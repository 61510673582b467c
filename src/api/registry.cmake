minik_add_library(minik_api_registry
  SOURCES registry.cc defaults.cc defaults_validation.cc defaults_internal.cc
  DEPS minik_api_machinery)
