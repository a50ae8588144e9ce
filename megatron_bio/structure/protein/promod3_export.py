"""Export of promod3-data's structure database (21,119 PDB chains, PROMOD3's own binary format) to
a NumPy archive, decoded by Debian's own python3-promod3. It runs under the system Python that
package installs into (`/usr/bin/python3 promod3_export.py OUT.npz`), so it imports nothing of
this project; `corpus.promod3_chains` calls it once and reads the archive from then on.
"""

import sys

import numpy as np

DATABASE = "/usr/share/promod3/loop_data/structure_db.dat"


def main(out: str) -> None:
    from promod3 import loop

    database = loop.StructureDB.Load(DATABASE)
    names, sequences, lengths, coordinates = [], [], [], []
    for index in range(database.GetNumCoords()):
        info = database.GetCoordInfo(index)
        fragment = loop.FragmentInfo(index, 0, info.size)
        sequence = database.GetSequence(fragment)
        backbone = database.GetBackboneList(fragment, sequence)
        names.append(f"promod3:{info.id}{info.chain_name}:{info.start_resnum}")
        sequences.append(sequence)
        lengths.append(len(backbone))
        coordinates.append(np.array([[list(backbone.GetN(i)), list(backbone.GetCA(i)), list(backbone.GetC(i))]
                                     for i in range(len(backbone))], dtype=np.float32))
    np.savez(out, names=np.array(names), sequences=np.array(sequences), lengths=np.array(lengths),
             coordinates=np.concatenate(coordinates))


if __name__ == "__main__":
    main(sys.argv[1])
