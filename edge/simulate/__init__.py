"""A simulated production line served over real OPC UA, Modbus and EtherNet/IP servers."""
