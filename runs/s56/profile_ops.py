"""Per-op CPU time of one fp32 channels-last forward (640x640 RGB), 2 threads."""
import sys, torch
from torch.profiler import profile, ProfilerActivity
torch.set_num_threads(2)
name = sys.argv[1] if len(sys.argv) > 1 else "fast"
from cvdenoise.weights import load_model
m = load_model(f"color-{name}").eval().to(memory_format=torch.channels_last)
x = torch.rand(1, 3, 640, 640).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    for _ in range(3): m(x)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
        for _ in range(5): m(x)
print(p.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=25, max_name_column_width=30, max_shapes_column_width=70))
