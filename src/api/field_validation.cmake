# minik_api_fieldvalidation: server-side field validation (fieldValidation=Strict|Warn|Ignore):
# unknown/duplicate fields and decode type errors of built-in kinds, checked against the schema
# of protobuf_schema.cc.
minik_add_library(minik_api_fieldvalidation
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/field_validation.cc
  DEPS minik_api_protobuf)
