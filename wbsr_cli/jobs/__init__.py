"""What each command does once its arguments are parsed (``wbsr_cli/<command>.py`` parses them, then
imports its job here): ``infer``, ``calibrate``, ``export``, ``plot_frontier``, ``pipelines`` (train and
test); ``outputs`` and ``output_folder`` plan and own ``wbsr-infer``'s outputs, ``errors`` makes a
user's error one line."""
