# CPU image by default; pass --build-arg BASE=<a CUDA runtime image with Python 3.11+> for GPUs.
ARG BASE=python:3.11-slim
FROM ${BASE}
# PyTorch's CPU wheel index keeps the CPU image small; set TORCH_INDEX="" on a CUDA base.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN python3 -m pip install --no-cache-dir ${TORCH_INDEX:+--extra-index-url ${TORCH_INDEX}} -r requirements.txt
COPY . .
EXPOSE 8501
ENV MODESCOPE_HOME=/data
VOLUME /data
CMD ["python3", "-m", "streamlit", "run", "app/streamlit_app.py", "--server.headless", "true", \
     "--server.address", "0.0.0.0", "--server.port", "8501", "--browser.gatherUsageStats", "false"]
