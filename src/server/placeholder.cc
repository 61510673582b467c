namespace minik {}
