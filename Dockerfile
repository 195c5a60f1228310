# streamtrain: one image for every service of docker-compose.yml (producer, trainer, monitor).
# The CUDA backend needs only the NVIDIA driver, which the NVIDIA container toolkit mounts into the container
# when a GPU is reserved; our kernels ship as PTX inside the jar, so no CUDA toolkit is installed here.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# Poms first: the dependency layer is rebuilt only when a pom changes.
COPY pom.xml .
COPY schemas/pom.xml schemas/
COPY tokenizer/pom.xml tokenizer/
COPY producer/pom.xml producer/
COPY model/pom.xml model/
COPY model-cuda/pom.xml model-cuda/
COPY trainer/pom.xml trainer/
COPY monitor/pom.xml monitor/
COPY cli/pom.xml cli/
COPY . .
RUN mvn -q -B -DskipTests -pl cli -am package

FROM eclipse-temurin:17-jre
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /work
COPY --from=build /src/cli/target/streamtrain-cli.jar /opt/streamtrain/streamtrain-cli.jar
COPY --from=build /src/cli/target/lib/ /opt/streamtrain/lib/
ENTRYPOINT ["java", "-cp", "/opt/streamtrain/streamtrain-cli.jar:/opt/streamtrain/lib/*", "io.streamtrain.cli.Main"]
CMD ["--help"]
