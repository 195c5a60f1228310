# syntax=docker/dockerfile:1
# streamtrain: one image for every service of docker-compose.yml (producer, trainer, monitor).
# The CUDA backend needs only the NVIDIA driver, which the NVIDIA container toolkit mounts into the container
# when a GPU is reserved; our kernels ship as PTX inside the jar, so no CUDA toolkit is installed here.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY . .
# The Maven repository is a BuildKit cache: a rebuild after a source change downloads nothing.
RUN --mount=type=cache,target=/root/.m2 mvn -q -B -DskipTests -pl cli -am package

FROM eclipse-temurin:17-jre
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /work
COPY --from=build /src/cli/target/streamtrain-cli.jar /opt/streamtrain/streamtrain-cli.jar
COPY --from=build /src/cli/target/lib/ /opt/streamtrain/lib/
ENTRYPOINT ["java", "-cp", "/opt/streamtrain/streamtrain-cli.jar:/opt/streamtrain/lib/*", "io.streamtrain.cli.Main"]
CMD ["--help"]
