FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir . && useradd --create-home ehr && mkdir -p /app/var && chown ehr /app/var
USER ehr
EXPOSE 8000
CMD ["gunicorn", "ehr.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
