"""``poppyscan upload``: orthomosaics to a running service, the job watched, the outputs back."""

from __future__ import annotations

from pathlib import Path

import click

from poppyscan.cli.options import ProgressBar


@click.command()
@click.argument("orthos", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--server", required=True, metavar="URL", help="The service, e.g. http://gpu-box:8000.")
@click.option("--token", required=True, envvar="POPPYSCAN_TOKEN", metavar="TOKEN",
              help="Your API token from `poppyscan users add` (or set POPPYSCAN_TOKEN).")
@click.option("--mission", required=True, help="Mission name (created when new); starts target ids.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Download the outputs here, as `poppyscan detect --out` writes them [none].")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs in --out.")
@click.option("--chunk-mb", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Upload request size in MiB, 1-1024.")
def upload(orthos, server, token, mission, out_dir, overwrite, chunk_mb) -> None:
    """Upload ORTHOS (GeoTIFFs, or folders of them), run detection on the service, wait for it.

    An interrupted upload resumes when the same command runs again.
    """
    from poppyscan.cli.serve import need_serve_extra

    need_serve_extra()
    from poppyscan.service.client import ServiceClient
    from poppyscan.tiles.sources import find_orthomosaics

    paths = find_orthomosaics(orthos)
    client = ServiceClient(server, token)
    try:
        me = client.whoami()
        target = client.mission(mission)
        click.echo(f"{me['name']} ({me['team']}) -> mission {target['name']} on {client.server}")
        file_ids = []
        for path in paths:
            with ProgressBar(f"upload {path.name}", unit="bytes") as progress:
                file_ids.append(client.upload(path, target["id"], chunk_bytes=chunk_mb << 20,
                                              progress=progress))
            client.wait_file(file_ids[-1])
        job = client.start_job(target["id"], file_ids)
        click.echo(f"job {job['id']} queued")
        with ProgressBar("detect") as progress:
            job = client.wait_job(job["id"], progress=progress)
        click.echo(f"job {job['id']} done: {job['targets']} targets; "
                   f"{client.server}/missions/{target['id']}")
        if out_dir is not None:
            files = client.download_outputs(job["id"], out_dir, overwrite=overwrite)
            click.echo(f"{len(files)} files in {out_dir}")
    finally:
        client.close()
