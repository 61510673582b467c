namespace minik::api {}
