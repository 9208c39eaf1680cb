# crumbless application image: one image, the role is the command
# (serve | collector | processor | dashboard | migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CRUMBLESS_DATA_DIR=/var/lib/crumbless
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY contract contract
COPY collector collector
COPY processors processors
COPY sinks sinks
COPY dashboards dashboards
COPY crumbless crumbless
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --system --home /var/lib/crumbless crumbless \
 && mkdir -p /var/lib/crumbless && chown crumbless /var/lib/crumbless
USER crumbless
VOLUME /var/lib/crumbless
EXPOSE 8000
ENTRYPOINT ["crumbless"]
CMD ["serve", "--host", "0.0.0.0"]
